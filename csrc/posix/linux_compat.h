/*
 * linux_compat.h - Linux constants that old kernel or libc headers lack (manylinux2014
 * builds against glibc 2.17 and kernel 3.10 headers), with the values from the
 * kernel's uapi headers: AT_* (linux/fcntl.h), MFD_* (linux/memfd.h), F_SEAL_*
 * (linux/fcntl.h), O_TMPFILE (asm-generic/fcntl.h), SYS_pidfd_open. Private to csrc/posix/.
 */
#ifndef REEXEC_LINUX_COMPAT_H
#define REEXEC_LINUX_COMPAT_H

#include <fcntl.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef AT_EXECVE_CHECK
#define AT_EXECVE_CHECK 0x10000
#endif

/* pidfd_open (Linux 5.3): 434 in the syscall table every architecture shares since
 * 5.1 (asm-generic/unistd.h, arch/x86/entry/syscalls), missing from kernel 3.10
 * headers. Other architectures (mips, alpha...) number it differently: there only
 * headers that have it enable it. */
#ifdef __linux__
#include <sys/syscall.h>
#if !defined(SYS_pidfd_open) && (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) \
    || defined(__arm__) || defined(__powerpc__) || defined(__s390__) || defined(__riscv) \
    || defined(__loongarch__))
#define SYS_pidfd_open 434
#endif
/* pidfd_send_signal (Linux 5.1): 424 on the same architectures. */
#if !defined(SYS_pidfd_send_signal) && defined(SYS_pidfd_open) && (defined(__x86_64__) \
    || defined(__i386__) || defined(__aarch64__) || defined(__arm__) || defined(__powerpc__) \
    || defined(__s390__) || defined(__riscv) || defined(__loongarch__))
#define SYS_pidfd_send_signal 424
#endif
#endif

#endif /* REEXEC_LINUX_COMPAT_H */
