/* stamp: the "new program" of every benchmark. Reads CLOCK_MONOTONIC first thing
 * in main(), prints its variant id, the delta from $BENCH_T0 (ns, written by the
 * parent just before its exec call), the inode it runs from and how many arguments
 * and environment variables it received (counted after the clock read), then exits 0.
 *
 * Built static (gcc -static -O2, or musl-gcc -static) twice: -DVARIANT=1 and
 * -DVARIANT=2. The two files differ only in the variant digit, so the marker below
 * sits at the same offset in both: the race benchmark reads it to learn which
 * variant a file held when it was checked. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef VARIANT
#define VARIANT 0
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

__attribute__((used)) const char bench_marker[] = "BENCH-VARIANT-MARKER:" STR(VARIANT) ";";

extern char **environ;

int main(int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    const char *t0 = getenv("BENCH_T0");
    long long delta = t0 ? now - atoll(t0) : -1;
    struct stat self;
    unsigned long long ino = stat("/proc/self/exe", &self) == 0 ? (unsigned long long)self.st_ino : 0;
    long envc = 0;
    for (char **e = environ; e && *e; e++)
        envc++;
    (void)argv;
    char line[160];
    int n = snprintf(line, sizeof line, "variant=%d delta_ns=%lld ino=%llu argc=%d envc=%ld\n",
                     VARIANT, delta, ino, argc, envc);
    if (write(1, line, (size_t)n) != n)
        return 3;
    return 0;
}
