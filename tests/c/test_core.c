/* C tests of the POSIX core, linked directly (no Python): open/identity/close,
 * current_exe, each exec tier in a forked child, and the refusals that keep a
 * failed exec recoverable. Run by scripts/c-tests (gcc, clang, musl-gcc, sanitizers). */
#define _GNU_SOURCE
#include "reexec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                         \
        }                                                                       \
    } while (0)

static char *sh_argv[] = {"sh", "-c", "exit 7", NULL};
static char *empty_env[] = {"A=1", NULL};

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
    CHECK(stat("/proc/self/exe", &st) == 0);
    CHECK(exe.ino == (unsigned long long)st.st_ino);
    reexec_close(&exe);
}

static void test_each_tier_runs_an_elf(void)
{
    CHECK(exec_in_child("/bin/sh", REEXEC_TIER_EXECVEAT, NULL) == 7);
    CHECK(exec_in_child("/bin/sh", REEXEC_TIER_FEXECVE, NULL) == 7);
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
    CHECK(exec_in_child(script, REEXEC_TIER_EXECVEAT, &note) == 200 + ENOENT);
    CHECK(note == REEXEC_NOTE_NEEDS_INTERPRETER);
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

int main(void)
{
    char dir[] = "/tmp/reexec-ctest-XXXXXX";

    if (mkdtemp(dir) == NULL)
        return 2;
    test_open_reports_identity();
    test_open_self_and_current_exe();
    test_each_tier_runs_an_elf();
    test_scripts_need_the_path_tier(dir);
    test_path_tier_refuses_a_swapped_file(dir);
    test_bad_arguments();
    rmdir(dir);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C core tests: all passed\n");
    return 0;
}
