/* swapper: a hostile build tool. Replaces TARGET in a tight loop, alternating the
 * contents of SRC_A and SRC_B, until SIGTERM; then prints its counters.
 *
 *   swapper MODE TARGET SRC_A SRC_B [PAUSE_US]
 *
 * PAUSE_US (default 0) sleeps between swaps: a build tool that rewrites the file
 * now and then rather than all the time.
 * cargo_link     unlink(TARGET); link(SRC, TARGET)          (cargo's uplift)
 * rename         link(SRC, TARGET.tmp); rename(TARGET.tmp, TARGET)
 * copy_in_place  open(TARGET, O_WRONLY|O_TRUNC), write 4 KiB chunks, close (same inode;
 *                `cp` over an existing file)
 * cargo_copy     unlink(TARGET); open(O_WRONLY|O_CREAT|O_TRUNC, 0755), write, close
 *                (cargo's cross-filesystem path: a new inode, written while open)
 *
 * An open for writing of a file being executed fails with ETXTBSY: counted, retried. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*size);
    if (!buf || fread(buf, 1, *size, f) != *size) { perror("read"); exit(2); }
    fclose(f);
    return buf;
}

static int write_all(int fd, const char *data, size_t size)
{
    for (size_t off = 0; off < size; ) {
        size_t n = size - off < CHUNK ? size - off : CHUNK;
        ssize_t w = write(fd, data + off, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        off += (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: swapper cargo_link|rename|copy_in_place|cargo_copy TARGET SRC_A SRC_B [PAUSE_US]\n");
        return 2;
    }
    long pause_us = argc == 6 ? atol(argv[5]) : 0;
    struct timespec pause = {pause_us / 1000000, (pause_us % 1000000) * 1000};
    const char *mode = argv[1], *target = argv[2];
    const char *src[2] = {argv[3], argv[4]};
    size_t size[2];
    char *data[2] = {slurp(src[0], &size[0]), slurp(src[1], &size[1])};
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", target);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    long swaps = 0, etxtbsy = 0, errors = 0;
    int which = 1;
    while (!stop) {
        int rc = 0;
        if (strcmp(mode, "cargo_link") == 0) {
            if (unlink(target) < 0 && errno != ENOENT) rc = -1;
            if (rc == 0 && link(src[which], target) < 0) rc = -1;
        } else if (strcmp(mode, "rename") == 0) {
            unlink(tmp);
            if (link(src[which], tmp) < 0 || rename(tmp, target) < 0) rc = -1;
        } else if (strcmp(mode, "copy_in_place") == 0 || strcmp(mode, "cargo_copy") == 0) {
            int flags = O_WRONLY | O_TRUNC | O_CLOEXEC;
            if (mode[0] == 'c' && mode[1] == 'a') {  /* cargo_copy: a new inode */
                if (unlink(target) < 0 && errno != ENOENT) rc = -1;
                flags |= O_CREAT;
            }
            int fd = rc == 0 ? open(target, flags, 0755) : -1;
            if (fd < 0) {
                if (errno == ETXTBSY) { etxtbsy++; continue; }
                rc = -1;
            } else {
                if (write_all(fd, data[which], size[which]) < 0) rc = -1;
                close(fd);
            }
        } else {
            fprintf(stderr, "swapper: unknown mode %s\n", mode);
            return 2;
        }
        if (rc < 0) { errors++; if (errors < 5) perror(mode); continue; }
        swaps++;
        which ^= 1;
        if (pause_us > 0)
            nanosleep(&pause, NULL);
    }
    printf("swaps=%ld etxtbsy=%ld errors=%ld\n", swaps, etxtbsy, errors);
    return 0;
}
