/* floor: the syscall floor of exec latency, from a small C process.
 *
 *   floor RUNS MODE PROGRAM      MODE: execveat | execve
 *
 * Each run forks; the child takes t0 = CLOCK_MONOTONIC, puts it in the environment
 * ($BENCH_T0), then either open(O_PATH|O_CLOEXEC) + syscall(SYS_execveat, fd, "",
 * AT_EMPTY_PATH) or execve(PROGRAM). PROGRAM (stamp) prints the delta to the
 * inherited stdout; the parent waits for each child before the next run. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: floor RUNS execveat|execve PROGRAM\n");
        return 2;
    }
    long runs = atol(argv[1]);
    int use_fd = strcmp(argv[2], "execveat") == 0;
    const char *program = argv[3];
    fflush(stdout);
    for (long i = 0; i < runs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            struct timespec ts;
            char t0[64];
            char *child_argv[] = {"stamp", NULL};
            char *child_env[] = {"PATH=/usr/bin:/bin", t0, NULL};
            clock_gettime(CLOCK_MONOTONIC, &ts);
            snprintf(t0, sizeof t0, "BENCH_T0=%lld", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
            if (use_fd) {
                int fd = open(program, O_PATH | O_CLOEXEC);
                syscall(SYS_execveat, fd, "", child_argv, child_env, AT_EMPTY_PATH);
            } else {
                execve(program, child_argv, child_env);
            }
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "floor: run %ld failed (status %d)\n", i, status);
            return 1;
        }
    }
    return 0;
}
