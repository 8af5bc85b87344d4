/* envdump: prints its argv and its whole environment as hex, one item a line, so
 * that a test can compare exactly what a new process received (any byte but NUL).
 *
 *   pid=<pid>
 *   argv=<hex>        one line per argv entry, argv[0] included
 *   env=<hex>         one line per environ entry (NAME=VALUE)
 *   fds=3,4,          descriptors open besides 0, 1, 2
 * Exits with $ENVDUMP_EXIT (default 0). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

static void hex_line(const char *key, const char *s)
{
    fputs(key, stdout);
    putchar('=');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        printf("%02x", *p);
    putchar('\n');
}

int main(int argc, char **argv)
{
    DIR *dir;
    struct dirent *entry;
    const char *code = getenv("ENVDUMP_EXIT");

    printf("pid=%d\n", (int)getpid());
    for (int i = 0; i < argc; i++)
        hex_line("argv", argv[i]);
    for (char **e = environ; e && *e; e++)
        hex_line("env", *e);
    printf("fds=");
    dir = opendir("/proc/self/fd");
    while (dir && (entry = readdir(dir)) != NULL) {
        int fd = atoi(entry->d_name);
        if (entry->d_name[0] != '.' && fd > 2 && fd != dirfd(dir))
            printf("%d,", fd);
    }
    if (dir)
        closedir(dir);
    putchar('\n');
    fflush(stdout);
    return code ? atoi(code) : 0;
}
