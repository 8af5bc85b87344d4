/* test_fds.c - the descriptor placement and the inotify wait of csrc/posix/reexec_fds.c and
 * csrc/posix/reexec_wait.c, without Python: place, check, restore, check again; a spawned
 * child sees the layout, its own PID and its own pidfd inode id; a watch wakes on a link.
 * Linux only. */
#define _GNU_SOURCE
#include "reexec_upgrade.h"

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

static int failures;
#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK(%s) failed (errno %d)\n", \
    __FILE__, __LINE__, #cond, errno); failures++; } } while (0)

static unsigned long long ino_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

static int cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    return flags < 0 ? -1 : (flags & FD_CLOEXEC) != 0;
}

static void test_place_and_restore(void)
{
    int a, b, c, pass, stray;
    unsigned long long ino3, ino4, ino_a, ino_b;
    int listen[2], inherit[1], others[1], scratch[3 * 2 + 1 + 1];
    reexec_fdplan plan;

    for (int fd = 3; fd < 64; fd++)
        close(fd);
    a = open("/", O_RDONLY | O_CLOEXEC);          /* 3 */
    b = open("/dev/null", O_RDONLY);              /* 4, inheritable */
    c = open("/tmp", O_RDONLY | O_CLOEXEC);       /* 5 */
    pass = open("/dev/zero", O_RDONLY | O_CLOEXEC); /* 6 */
    stray = open("/proc", O_RDONLY);              /* 7, inheritable */
    CHECK(a == 3 && b == 4 && c == 5 && pass == 6 && stray == 7);
    ino3 = ino_of(3);
    ino4 = ino_of(4);
    ino_a = ino_of(c);
    ino_b = ino_of(a);

    /* [5, 3]: the source for slot 4 sits on slot 3. */
    listen[0] = c;
    listen[1] = a;
    inherit[0] = pass;
    others[0] = stray;
    memset(&plan, 0, sizeof plan);
    plan.nlisten = 2;
    plan.listen = listen;
    plan.ninherit = 1;
    plan.inherit = inherit;
    plan.ncloexec = 1;
    plan.cloexec = others;
    plan.scratch = scratch;
    CHECK(reexec_fds_place(&plan) == 0);
    CHECK(ino_of(3) == ino_a && cloexec(3) == 0);
    CHECK(ino_of(4) == ino_b && cloexec(4) == 0);
    CHECK(cloexec(pass) == 0);
    CHECK(cloexec(stray) == 1);
    /* slot 3's previous occupant (a) moved to a close-on-exec duplicate */
    CHECK(reexec_fds_moved(&plan, 3) > 7 && ino_of(reexec_fds_moved(&plan, 3)) == ino_b);
    CHECK(reexec_fds_moved(&plan, 6) == 6);

    reexec_fds_restore(&plan);
    CHECK(ino_of(3) == ino3 && cloexec(3) == 1);
    CHECK(ino_of(4) == ino4 && cloexec(4) == 0);
    CHECK(ino_of(5) == ino_a && cloexec(5) == 1);
    CHECK(cloexec(pass) == 1);
    CHECK(cloexec(stray) == 0);
    for (int fd = 8; fd < 64; fd++)
        CHECK(fcntl(fd, F_GETFD) < 0); /* no duplicate left behind */
    for (int fd = 3; fd < 8; fd++)
        close(fd);
}

static void test_place_fails_cleanly(void)
{
    int listen[1] = {1000}; /* not open */
    int scratch[4];
    reexec_fdplan plan;
    int before = open("/", O_RDONLY | O_CLOEXEC); /* 3 */

    memset(&plan, 0, sizeof plan);
    plan.nlisten = 1;
    plan.listen = listen;
    plan.scratch = scratch;
    CHECK(reexec_fds_place(&plan) == EBADF);
    CHECK(cloexec(before) == 1);
    close(before);
}

static void test_spawn_sets_the_childs_pid(void)
{
    int fds[2], listen[1], scratch[4], pid = -1, status = 0;
    char pid_entry[64] = "LISTEN_PID=00000000000000000000";
    char *argv[] = {"sh", "-c", "test \"$LISTEN_PID\" = $$ && test -e /proc/self/fd/3 && "
                                "test ! -e /proc/self/fd/4 && exit 7", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", pid_entry, NULL};
    reexec_fdplan plan;

    CHECK(pipe2(fds, O_CLOEXEC) == 0); /* like Python's: close-on-exec */
    listen[0] = fds[1];
    memset(&plan, 0, sizeof plan);
    plan.nlisten = 1;
    plan.listen = listen;
    plan.scratch = scratch;
    CHECK(reexec_spawn(NULL, "/bin/sh", argv, envp, 0, &plan, pid_entry + 11, NULL, NULL, NULL, &pid) == 0);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    CHECK(reexec_spawn(NULL, "/nonexistent/x", argv, envp, 0, NULL, NULL, NULL, NULL, NULL, &pid) == ENOENT);
    close(fds[0]);
    close(fds[1]);
}

/* systemd's LISTEN_PIDFDID: our own id is the st_ino of a pidfd for us (pidfs, 64-bit),
 * and a spawned child gets its own (read by the parent from the unreaped child). */
static void test_pidfd_id(void)
{
    unsigned long long own = 0, again = 0, childs = 0;
    char entry[64] = "LISTEN_PIDFDID=000000000000000000000", got[64];
    char *argv[] = {"sh", "-c", "printf %s \"$LISTEN_PIDFDID\"", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", entry, NULL};
    int err, fds[2], stdio[3], pid = -1, status = 0, pidfd;
    ssize_t n;

    CHECK(reexec_pidfd_id(0, &own) == EINVAL);
    err = reexec_pidfd_id((int)getpid(), &own);
    if (err == ENOSYS || err == EOPNOTSUPP) {
        fprintf(stderr, "test_pidfd_id: no pidfd inode ids here (%s), skipped\n", strerror(err));
        return;
    }
    CHECK(err == 0 && own != 0);
    CHECK(reexec_pidfd_id((int)getpid(), &again) == 0 && again == own); /* stable */
    pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    CHECK(pidfd >= 0 && ino_of(pidfd) == own);
    close(pidfd);

    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    stdio[0] = -1;
    stdio[1] = fds[1];
    stdio[2] = -1;
    CHECK(reexec_spawn(NULL, "/bin/sh", argv, envp, 0, NULL, NULL, entry + 15, stdio, NULL, &pid) == 0);
    close(fds[1]);
    n = read(fds[0], got, sizeof got - 1);
    close(fds[0]);
    got[n > 0 ? n : 0] = '\0';
    CHECK(pid > 0 && reexec_pidfd_id(pid, &childs) == 0); /* a zombie still has its pidfd */
    CHECK(childs != own && strtoull(got, NULL, 10) == childs);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The relay's pidfd: it names the child until reaped, signals reach it through it,
 * and after the reap it reaches nothing (ESRCH), whatever the PID names by then. */
static void test_pidfd_open_and_send_signal(void)
{
    int err, pidfd = -2, pid, status = 0;

    CHECK(reexec_pidfd_open(0, &pidfd) == EINVAL);
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(3);
    }
    CHECK(pid > 0);
    err = reexec_pidfd_open(pid, &pidfd);
    if (err == ENOSYS) {
        fprintf(stderr, "test_pidfd_open_and_send_signal: no pidfd_open here, skipped\n");
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return;
    }
    CHECK(err == 0 && pidfd >= 0 && (fcntl(pidfd, F_GETFD) & FD_CLOEXEC));
    CHECK(reexec_pidfd_send_signal(pidfd, SIGTERM) == 0);
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    CHECK(reexec_pidfd_send_signal(pidfd, SIGTERM) == ESRCH); /* reaped: reaches nothing */
    close(pidfd);
}

static void test_watch_wakes_on_a_link(void)
{
    char dir[] = "/tmp/reexec-watch-XXXXXX", src[64], dst[64];
    int fd, release, pid;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    close(open(src, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    CHECK(reexec_watch_open(dir, &fd) == 0);
    CHECK(reexec_watch_wait(fd, "dst", 10) == ETIMEDOUT);
    CHECK(reexec_watch_hold(fd, &release) == 0);
    pid = fork();
    if (pid == 0) {
        usleep(100000);
        _exit(link(src, dst) == 0 ? 0 : 1);
    }
    CHECK(reexec_watch_wait(fd, "dst", 30000) == 0); /* the event, not the 30 s cap */
    waitpid(pid, NULL, 0);
    close(release);
    close(fd);
    unlink(dst);
    unlink(src);
    rmdir(dir);
}

/* SIGCHLD ignored: the kernel reaps children itself, waitpid gives ECHILD. Held at
 * SIG_DFL, the child's status is read; the spawned program gets SIG_IGN back; the
 * caller's disposition is back after; a watch holder is still handed over. */
static void test_sigchld_ignored_is_held_at_default(void)
{
    char *argv[] = {"test_fds", "--sigchld-ignored?", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    char dir[] = "/tmp/reexec-chld-XXXXXX";
    struct sigaction ign, now;
    reexec_sigchld state;
    int status, pid = -1, fd, release = -1;

    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    CHECK(sigaction(SIGCHLD, &ign, NULL) == 0);
    CHECK(reexec_sigchld_default(&state) == 0 && state.was == REEXEC_SIGCHLD_IGNORED);
    CHECK(reexec_spawn(NULL, "/proc/self/exe", argv, envp, 0, NULL, NULL, NULL, NULL, &state, &pid) == 0);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5); /* SIG_IGN in the program */
    reexec_sigchld_restore(&state, 1);
    CHECK(sigaction(SIGCHLD, NULL, &now) == 0 && now.sa_handler == SIG_IGN);
    CHECK(mkdtemp(dir) != NULL);
    CHECK(reexec_watch_open(dir, &fd) == 0);
    CHECK(reexec_watch_hold(fd, &release) == 0 && release >= 0);
    CHECK(sigaction(SIGCHLD, NULL, &now) == 0 && now.sa_handler == SIG_IGN);
    close(release);
    close(fd);
    rmdir(dir);
    /* SIG_DFL with SA_NOCLDWAIT: the same auto-reaping, told apart, undone, put back. */
    ign.sa_handler = SIG_DFL;
    ign.sa_flags = SA_NOCLDWAIT;
    CHECK(sigaction(SIGCHLD, &ign, NULL) == 0);
    CHECK(reexec_sigchld_default(&state) == 0 && state.was == REEXEC_SIGCHLD_NOCLDWAIT);
    pid = fork();
    if (pid == 0)
        _exit(4);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 4);
    reexec_sigchld_restore(&state, 0);
    CHECK(sigaction(SIGCHLD, NULL, &now) == 0 && (now.sa_flags & SA_NOCLDWAIT));
    ign.sa_flags = 0;
    sigaction(SIGCHLD, &ign, NULL);
}

int main(int argc, char **argv)
{
    struct sigaction now;

    if (argc > 1 && strcmp(argv[1], "--sigchld-ignored?") == 0)
        return sigaction(SIGCHLD, NULL, &now) == 0 && now.sa_handler == SIG_IGN ? 5 : 6;
    test_place_and_restore();
    test_place_fails_cleanly();
    test_spawn_sets_the_childs_pid();
    test_pidfd_id();
    test_pidfd_open_and_send_signal();
    test_watch_wakes_on_a_link();
    test_sigchld_ignored_is_held_at_default();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("fd placement tests: all passed\n");
    return 0;
}
