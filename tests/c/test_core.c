/* C tests of the POSIX core, linked directly (no Python): open/identity/close,
 * current_exe, each exec tier in a forked child, and the refusals that keep a
 * failed exec recoverable. Run by scripts/c-tests (gcc, clang, musl-gcc, sanitizers,
 * and built for aarch64 under qemu-aarch64). Checks that need execveat are skipped,
 * and counted as skipped, only where a probe finds the syscall missing (ENOSYS: an
 * old kernel, or an emulator such as Debian's qemu-user 7.2 that lacks it); checks
 * that exec one tier by descriptor alone, only where a probe finds such an exec
 * refused (a binfmt_misc emulator: qemu-user 10 through binfmt_misc). */
#define _GNU_SOURCE
#include "reexec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures, passes, skipped;
static int have_execveat; /* set by probe_execveat() in main */

/* Does this kernel (or emulator) have execveat? An invalid descriptor makes a real
 * one answer EBADF without executing anything; a missing one answers ENOSYS. */
static int probe_execveat(void)
{
#ifdef SYS_execveat
    char *argv[] = {"probe", NULL};
    char *envp[] = {NULL};

    if (!(reexec_supported_tiers() & REEXEC_TIER_EXECVEAT))
        return 0;
    errno = 0;
    syscall(SYS_execveat, -1, "", argv, envp, 0x1000 /* AT_EMPTY_PATH */);
    return errno != ENOSYS;
#else
    return 0;
#endif
}

static char *sh_argv[] = {"sh", "-c", "exit 7", NULL};
static char *empty_env[] = {"A=1", NULL};
static int fd_exec_refused; /* set by probe_fd_exec() in main */

/* Under a binfmt_misc emulator the kernel refuses exec of a close-on-exec descriptor
 * with ENOENT (the interpreter would be handed a /dev/fd path closed by then: the rule
 * for #! scripts), while the same descriptor without close-on-exec runs. Asked of the
 * kernel with glibc's fexecve, in two children, not of the code under test: 1 when the
 * close-on-exec one fails with ENOENT and the other runs. */
static int fd_exec_status(int cloexec)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open("/bin/sh", O_RDONLY | (cloexec ? O_CLOEXEC : 0));
        if (fd >= 0)
            fexecve(fd, sh_argv, empty_env);
        _exit(200 + (errno & 0x3f));
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static int probe_fd_exec(void)
{
    return fd_exec_status(1) == 200 + ENOENT && fd_exec_status(0) == 7;
}

/* Valgrind emulates execveat(fd, "", AT_EMPTY_PATH) by exec'ing the fd's path, and
 * virtualizes /proc/self/exe only for open/readlink: a few checks differ there. */
static int under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                         \
        } else {                                                                \
            passes++;                                                           \
        }                                                                       \
    } while (0)

/* A check of the execveat tier alone: skipped (and counted) where it is missing. */
#define CHECK_EXECVEAT(cond)                                                    \
    do {                                                                        \
        if (have_execveat && !fd_exec_refused)                                  \
            CHECK(cond);                                                        \
        else                                                                    \
            skipped++;                                                          \
    } while (0)

/* A check of one descriptor tier alone: skipped (and counted) where exec by a
 * close-on-exec descriptor is refused (probe_fd_exec). */
#define CHECK_FD_EXEC(cond)                                                     \
    do {                                                                        \
        if (!fd_exec_refused)                                                   \
            CHECK(cond);                                                        \
        else                                                                    \
            skipped++;                                                          \
    } while (0)


/* Exec `path` through `tiers` in a child; return its exit status, or 200 + errno
 * of the failure (reported by the child through its exit code). */
static int exec_in_child(const char *path, unsigned int tiers, int *first_note)
{
    int pipefd[2];
    pid_t pid;
    int status = 0, note = -1;

    if (pipe(pipefd) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        reexec_exe exe;
        reexec_report report;
        int err;
        close(pipefd[0]);
        err = reexec_open(path, &exe);
        if (err == 0) {
            err = reexec_exec(&exe, path, sh_argv, empty_env, tiers, &report);
            if (report.count > 0 && write(pipefd[1], &report.attempts[0].note, sizeof(int)) < 0)
                _exit(199);
        }
        _exit(err > 50 ? 250 : 200 + err);
    }
    close(pipefd[1]);
    if (read(pipefd[0], &note, sizeof note) != (ssize_t)sizeof note)
        note = -1;
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    if (first_note)
        *first_note = note;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_open_reports_identity(void)
{
    reexec_exe exe;
    struct stat st;

    CHECK(reexec_open("/bin/sh", &exe) == 0);
    CHECK(stat("/bin/sh", &st) == 0);
    CHECK(exe.fd >= 0);
    CHECK(exe.ino == (unsigned long long)st.st_ino);
    CHECK(exe.dev == (unsigned long long)st.st_dev);
    CHECK(exe.mode == (unsigned int)st.st_mode);
    CHECK(fcntl(exe.fd, F_GETFD) & FD_CLOEXEC);
    CHECK(reexec_close(&exe) == 0);
    CHECK(exe.fd == -1);
    CHECK(reexec_close(&exe) == 0); /* twice is fine */
    CHECK(reexec_open("/nonexistent/x", &exe) == ENOENT);
    CHECK(exe.fd == -1);
    CHECK(reexec_open(NULL, &exe) == EINVAL);
}

static void test_open_self_and_current_exe(void)
{
    char buf[4096], small[2];
    reexec_exe exe;
    struct stat st;

    CHECK(reexec_current_exe(buf, sizeof buf) == 0);
    CHECK(buf[0] == '/');
    CHECK(reexec_current_exe(small, sizeof small) == ERANGE);
    CHECK(reexec_open_self(&exe) == 0);
    CHECK(stat(buf, &st) == 0);
    CHECK(exe.ino == (unsigned long long)st.st_ino);
    reexec_close(&exe);
}

static void test_each_tier_runs_an_elf(void)
{
    CHECK_EXECVEAT(exec_in_child("/bin/sh", REEXEC_TIER_EXECVEAT, NULL) == 7);
    CHECK_FD_EXEC(exec_in_child("/bin/sh", REEXEC_TIER_FEXECVE, NULL) == 7);
    CHECK(exec_in_child("/bin/sh", REEXEC_TIER_PATH, NULL) == 7);
    CHECK(exec_in_child("/bin/sh", REEXEC_TIER_EXECVEAT | REEXEC_TIER_FEXECVE | REEXEC_TIER_PATH, NULL) == 7);
    CHECK(exec_in_child("/bin/sh", 0, NULL) == 200 + ENOSYS);
}

static void test_scripts_need_the_path_tier(const char *dir)
{
    char script[512];
    FILE *f;
    int note;

    snprintf(script, sizeof script, "%s/script.sh", dir);
    f = fopen(script, "w");
    fputs("#!/bin/sh\nexit 9\n", f);
    fclose(f);
    chmod(script, 0755);
    /* execveat with a close-on-exec fd: ENOENT, and control comes back. */
    if (!under_valgrind()) {
        CHECK_EXECVEAT(exec_in_child(script, REEXEC_TIER_EXECVEAT, &note) == 200 + ENOENT);
        CHECK_EXECVEAT(note == REEXEC_NOTE_NEEDS_INTERPRETER);
    }
    /* fexecve is only handed verified ELF images (glibc could exec /proc/self/fd/N). */
    CHECK(exec_in_child(script, REEXEC_TIER_FEXECVE, &note) == 200 + ENOENT);
    CHECK(note == REEXEC_NOTE_NOT_ELF);
    /* The default order reaches the path tier, which runs it (exit 9 from the script). */
    CHECK(exec_in_child(script, REEXEC_TIER_EXECVEAT | REEXEC_TIER_FEXECVE | REEXEC_TIER_PATH, NULL) == 9);
    unlink(script);
}

static void test_path_tier_refuses_a_swapped_file(const char *dir)
{
    char target[512], other[512];
    reexec_exe exe;
    reexec_report report;
    FILE *f;

    snprintf(target, sizeof target, "%s/target", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    f = fopen(target, "w");
    fputs("#!/bin/sh\nexit 3\n", f);
    fclose(f);
    chmod(target, 0755);
    CHECK(reexec_open(target, &exe) == 0);
    f = fopen(other, "w");
    fputs("#!/bin/sh\nexit 4\n", f);
    fclose(f);
    chmod(other, 0755);
    CHECK(rename(other, target) == 0);
    CHECK(reexec_exec(&exe, target, sh_argv, empty_env, REEXEC_TIER_PATH, &report) == ESTALE);
    CHECK(report.count == 1);
    CHECK(report.attempts[0].tier == REEXEC_TIER_PATH);
    CHECK(report.attempts[0].note == REEXEC_NOTE_IDENTITY_CHANGED);
    reexec_close(&exe);
    unlink(target);
}

static void test_bad_arguments(void)
{
    reexec_exe exe;
    reexec_report report;
    char *no_args[] = {NULL};

    CHECK(reexec_open("/bin/sh", &exe) == 0);
    CHECK(reexec_exec(&exe, "/bin/sh", no_args, empty_env, REEXEC_TIER_EXECVEAT, &report) == EINVAL);
    CHECK(reexec_exec(&exe, "/bin/sh", sh_argv, NULL, REEXEC_TIER_EXECVEAT, &report) == EINVAL);
    CHECK(reexec_exec(&exe, "/bin/sh", sh_argv, empty_env, REEXEC_TIER_EXECVEAT, NULL) == EINVAL);
    reexec_close(&exe);
}

/* ---- failure paths (issue 6): each leaves the caller as it was ----------------- */

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static void write_file(const char *path, const char *data, size_t size, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        failures++;
        return;
    }
    if (size && fwrite(data, 1, size, f) != size)
        failures++;
    fclose(f);
    chmod(path, mode);
}

/* Exec `path` through `tiers` in this process, where it must fail with `want`;
 * the signal state and descriptors must come back as they were. */
static void expect_failure(const char *path, unsigned int tiers, char *const argv[], int want,
                           int want_last_note)
{
    reexec_exe exe;
    reexec_report report;
    struct sigaction before_pipe, after_pipe, ign;
    sigset_t block, before_mask, after_mask;
    int fds, err;

    if (tiers == REEXEC_TIER_EXECVEAT && !have_execveat) {
        skipped++; /* the whole failure-path case: its one tier is missing here */
        return;
    }
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &before_pipe);  /* what Python does at start-up */
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &before_mask);
    fds = count_fds();
    CHECK(reexec_open(path, &exe) == 0);
    err = reexec_exec(&exe, path, argv, empty_env, tiers, &report);
    if (err != want)
        fprintf(stderr, "%s tiers=%#x: got errno %d, want %d\n", path, tiers, err, want);
    CHECK(err == want);
    CHECK(report.count >= 1 && report.count <= REEXEC_MAX_ATTEMPTS);
    if (report.count >= 1) {
        CHECK(report.attempts[report.count - 1].err == want);
        if (want_last_note >= 0)
            CHECK(report.attempts[report.count - 1].note == want_last_note);
    }
    CHECK(reexec_close(&exe) == 0);
    CHECK(count_fds() == fds);
    sigaction(SIGPIPE, NULL, &after_pipe);
    CHECK(after_pipe.sa_handler == SIG_IGN);
    sigprocmask(SIG_SETMASK, NULL, &after_mask);
    CHECK(sigismember(&after_mask, SIGUSR1) == 1);
    sigaction(SIGPIPE, &before_pipe, NULL);
    sigprocmask(SIG_SETMASK, &before_mask, NULL);
}

static const unsigned int each_tier[] = {
    REEXEC_TIER_EXECVEAT, REEXEC_TIER_FEXECVE, REEXEC_TIER_PATH,
    REEXEC_TIER_EXECVEAT | REEXEC_TIER_FEXECVE | REEXEC_TIER_PATH,
};

static void test_truncated_elf_is_enoexec_at_every_tier(const char *dir)
{
    char path[512], elf[64];

    snprintf(path, sizeof path, "%s/truncated", dir);
    memset(elf, 0, sizeof elf);
    memcpy(elf, "\177ELF\2\1\1", 7);
    write_file(path, elf, sizeof elf, 0755);
    for (size_t i = 0; i < sizeof each_tier / sizeof each_tier[0]; i++)
        expect_failure(path, each_tier[i], sh_argv, ENOEXEC, REEXEC_NOTE_NONE);
    write_file(path, "", 0, 0755); /* empty: not ELF, so fexecve is skipped */
    expect_failure(path, REEXEC_TIER_EXECVEAT, sh_argv, ENOEXEC, REEXEC_NOTE_NONE);
    expect_failure(path, REEXEC_TIER_PATH, sh_argv, ENOEXEC, REEXEC_NOTE_NONE);
    unlink(path);
}

static void test_argv_too_long_is_e2big_at_every_tier(void)
{
    size_t size = 32 * 4096 + 1; /* MAX_ARG_STRLEN + 1 */
    char *big = malloc(size + 1);
    char *argv[] = {"sh", NULL, NULL};

    if (under_valgrind()) {
        free(big); /* valgrind cannot recover from an execve that fails with E2BIG: it dies */
        return;
    }
    if (big == NULL) {
        failures++;
        return;
    }
    memset(big, 'a', size);
    big[size] = '\0';
    argv[1] = big;
    for (size_t i = 0; i < sizeof each_tier / sizeof each_tier[0]; i++)
        expect_failure("/bin/sh", each_tier[i], argv, E2BIG, REEXEC_NOTE_NONE);
    free(big);
}

static void test_file_open_for_writing_is_etxtbsy(const char *dir)
{
    char path[512];
    int w;

    if (under_valgrind())
        return; /* valgrind dies on an execve failure it did not predict (ETXTBSY) */
    snprintf(path, sizeof path, "%s/busy", dir);
    write_file(path, "#!/bin/sh\nexit 0\n", 17, 0755);
    w = open(path, O_WRONLY | O_CLOEXEC); /* close-on-exec does not help: the check is first */
    CHECK(w >= 0);
    expect_failure(path, REEXEC_TIER_EXECVEAT, sh_argv, ETXTBSY, REEXEC_NOTE_NONE);
    expect_failure(path, REEXEC_TIER_PATH, sh_argv, ETXTBSY, REEXEC_NOTE_NONE);
    close(w);
    CHECK(exec_in_child(path, REEXEC_TIER_EXECVEAT | REEXEC_TIER_PATH, NULL) == 0);
    unlink(path);
}

static void test_directory_is_eacces(const char *dir)
{
    expect_failure(dir, REEXEC_TIER_EXECVEAT, sh_argv, EACCES, REEXEC_NOTE_NONE);
    expect_failure(dir, REEXEC_TIER_PATH, sh_argv, EACCES, REEXEC_NOTE_NONE);
}

static void test_missing_interpreter_is_not_a_swap(const char *dir)
{
    char path[512];

    if (under_valgrind())
        return; /* valgrind's execveat runs scripts by path */
    snprintf(path, sizeof path, "%s/orphan.sh", dir);
    write_file(path, "#!/nonexistent/interp\n", 22, 0755);
    /* The path tier's ENOENT, with the file still there: its interpreter is missing. */
    expect_failure(path, REEXEC_TIER_EXECVEAT | REEXEC_TIER_FEXECVE | REEXEC_TIER_PATH, sh_argv,
                   ENOENT, REEXEC_NOTE_NEEDS_INTERPRETER);
    expect_failure(path, REEXEC_TIER_PATH, sh_argv, ENOENT, REEXEC_NOTE_NEEDS_INTERPRETER);
    unlink(path);
}

static void test_many_failures_leak_nothing(const char *dir)
{
    char path[512];
    reexec_exe exe;
    reexec_report report;
    int fds = count_fds();

    snprintf(path, sizeof path, "%s/not-elf", dir);
    write_file(path, "garbage", 7, 0755);
    for (int i = 0; i < 200; i++) {
        if (reexec_open(path, &exe) != 0) {
            failures++;
            break;
        }
        reexec_exec(&exe, path, sh_argv, empty_env, REEXEC_TIER_EXECVEAT | REEXEC_TIER_FEXECVE
                    | REEXEC_TIER_PATH, &report);
        reexec_close(&exe);
        CHECK(reexec_open("/nonexistent/x", &exe) == ENOENT);
    }
    CHECK(count_fds() == fds);
    unlink(path);
}

int main(void)
{
    char dir[] = "/tmp/reexec-ctest-XXXXXX";

    if (mkdtemp(dir) == NULL)
        return 2;
    have_execveat = probe_execveat();
    fd_exec_refused = probe_fd_exec();
    test_open_reports_identity();
    test_open_self_and_current_exe();
    test_each_tier_runs_an_elf();
    test_scripts_need_the_path_tier(dir);
    test_path_tier_refuses_a_swapped_file(dir);
    test_bad_arguments();
    test_truncated_elf_is_enoexec_at_every_tier(dir);
    test_argv_too_long_is_e2big_at_every_tier();
    test_file_open_for_writing_is_etxtbsy(dir);
    test_directory_is_eacces(dir);
    test_missing_interpreter_is_not_a_swap(dir);
    test_many_failures_leak_nothing(dir);
    rmdir(dir);
    printf("C core tests: %d passed, %d failed, %d skipped%s%s\n", passes, failures, skipped,
           have_execveat ? "" : " (execveat unavailable here: the probe got ENOSYS)",
           fd_exec_refused ? " (exec by a close-on-exec descriptor refused here with ENOENT: a "
                             "binfmt_misc emulator)" : "");
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C core tests: all passed\n");
    return 0;
}
