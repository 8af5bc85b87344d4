/* variant: a program that says which build it is, for the snapshot tests.
 * Built twice with -DVARIANT=1 and 2; the padding makes an in-place rewrite
 * take many write() calls. With "sleep" as argv[1] it waits for a line on stdin
 * before printing, so a test can rewrite its file while it runs. */
#include <stdio.h>
#include <string.h>

#ifndef VARIANT
#define VARIANT 0
#endif

static const char padding[256 * 1024] = {VARIANT};

int main(int argc, char **argv)
{
    char line[16];
    volatile size_t middle = sizeof padding / 2; /* keeps the padding in the file */

    if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
        printf("waiting\n");
        fflush(stdout);
        if (fgets(line, sizeof line, stdin) == NULL)
            return 3;
    }
    printf("variant=%d padding=%d\n", VARIANT, padding[middle] + padding[0]);
    return 0;
}
