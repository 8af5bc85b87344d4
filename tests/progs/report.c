/* report: prints how it was started, for reexec-native's exec tests.
 *
 * pid, AT_EXECFN, each argv entry as hex (argv[0] included), the guard variable,
 * open descriptors, and the ignored/blocked signal masks from /proc/self/status.
 * Exits with $REPORT_EXIT (default 0). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

static void print_hex(const char *label, int index, const char *s)
{
    printf("%s[%d]=", label, index);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        printf("%02x", *p);
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *guard = getenv("BITNET_REPAIR_PARENT");
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    char line[256];
    FILE *status;
    DIR *dir;
    struct dirent *entry;

    printf("report pid=%d\n", (int)getpid());
    printf("execfn=%s\n", execfn ? execfn : "?");
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        print_hex("argv", i, argv[i]);
    printf("guard=%s\n", guard ? guard : "<unset>");
    dir = opendir("/proc/self/fd");
    printf("fds=");
    while (dir && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.' && atoi(entry->d_name) != dirfd(dir))
            printf("%s,", entry->d_name);
    }
    printf("\n");
    if (dir)
        closedir(dir);
    status = fopen("/proc/self/status", "r");
    while (status && fgets(line, sizeof line, status)) {
        if (strncmp(line, "SigIgn:", 7) == 0 || strncmp(line, "SigBlk:", 7) == 0)
            fputs(line, stdout);
    }
    if (status)
        fclose(status);
    fflush(stdout);
    return getenv("REPORT_EXIT") ? atoi(getenv("REPORT_EXIT")) : 0;
}
