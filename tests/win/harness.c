/*
 * harness.c - drives reexec_open + reexec_exec (csrc/windows/reexec_win.c, linked in)
 * from a spec file, so arbitrary Unicode arguments and environments reach the
 * shim without going through Wine's Unix argv conversion.
 *
 *   harness.exe SPECFILE        run every case, each in a child harness
 *   harness.exe SPECFILE N      run case N in this process (reexec_exec)
 *
 * SPECFILE lines ('x' + hex of UTF-8 bytes, "x" alone is the empty string):
 *   case            starts a case
 *   p x<hex>        the path to open and run
 *   a x<hex>        one argv entry (argv[0] first)
 *   e x<hex>        one environment entry; any 'e' or an 'E' line makes the
 *   E               environment explicit (else NULL: inherit)
 *   t <mask>        tiers (default REEXEC_TIER_CREATEPROCESS)
 *
 * Output: "case N", then whatever the program prints, then "exit N <code>"
 * (full 32-bit). When reexec fails, the case prints "open-failed ..." or
 * "exec-failed ret=R" plus one "attempt tier=T err=E note=O" line per attempt.
 * Batching many cases into one Wine start keeps the property test fast.
 */
#include "reexec.h"
#include "std_handles.h"
#include "start_process.h"

#include <windows.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define MAX_ITEMS 512

typedef struct spec_case {
    char *path;
    char *argv[MAX_ITEMS + 1];
    char *envp[MAX_ITEMS + 1];
    int argc, envc, explicit_env;
    unsigned int tiers;
} spec_case;

static char *decode_hex(const char *text)
{
    size_t n = 0, i;
    char *out;

    if (*text == 'x')
        text++;
    while (text[n] && text[n] != '\n' && text[n] != '\r')
        n++;
    out = malloc(n / 2 + 1);
    for (i = 0; i < n / 2; i++) {
        char byte[3] = { text[2 * i], text[2 * i + 1], '\0' };
        out[i] = (char)strtoul(byte, NULL, 16);
    }
    out[n / 2] = '\0';
    return out;
}

/* Loads case `wanted` (0-based); returns the number of cases in the file. */
static int load_spec(const wchar_t *file_name, int wanted, spec_case *c)
{
    static char line[1 << 16];
    FILE *file = _wfopen(file_name, L"rb");
    int index = -1;

    memset(c, 0, sizeof(*c));
    c->tiers = REEXEC_TIER_CREATEPROCESS;
    if (!file)
        return -1;
    while (fgets(line, sizeof(line), file)) {
        int mine;
        if (strncmp(line, "case", 4) == 0) {
            index++;
            continue;
        }
        mine = index == wanted;
        if (!mine)
            continue;
        if (line[0] == 'p')
            c->path = decode_hex(line + 2);
        else if (line[0] == 'a' && c->argc < MAX_ITEMS)
            c->argv[c->argc++] = decode_hex(line + 2);
        else if (line[0] == 'e' && c->envc < MAX_ITEMS)
            c->envp[c->envc++] = decode_hex(line + 2), c->explicit_env = 1;
        else if (line[0] == 'E')
            c->explicit_env = 1;
        else if (line[0] == 't')
            c->tiers = (unsigned int)strtoul(line + 2, NULL, 0);
    }
    fclose(file);
    return index + 1;
}

static int run_case(const wchar_t *file_name, int wanted)
{
    spec_case c;
    reexec_exe exe;
    reexec_report report;
    int err, i;

    if (load_spec(file_name, wanted, &c) <= wanted || !c.path) {
        printf("bad-spec\n");
        return 2;
    }
    err = reexec_open(c.path, &exe);
    if (err) {
        printf("open-failed errno=%d win32=%lu\n", err, (unsigned long)GetLastError());
        return 127;
    }
    fflush(stdout); /* like Python before the hand-over */
    err = reexec_exec(&exe, c.path, c.argv, c.explicit_env ? c.envp : NULL, c.tiers, &report);
    printf("exec-failed ret=%d count=%d enosys=%d\n", err, report.count, ENOSYS);
    for (i = 0; i < report.count; i++)
        printf("attempt tier=%d err=%d note=%d\n", report.attempts[i].tier,
               report.attempts[i].err, report.attempts[i].note);
    return 126;
}

/* Runs `harness SPECFILE N` as a child sharing our std handles. */
static int run_child_case(const wchar_t *file_name, int index)
{
    wchar_t self[MAX_PATH], line[3 * MAX_PATH];
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code = 0;

    GetModuleFileNameW(NULL, self, MAX_PATH);
    swprintf(line, 3 * MAX_PATH, L"\"%ls\" \"%ls\" %d", self, file_name, index);
    startup_info_with_our_std_handles(&si);
    printf("case %d\n", index);
    fflush(stdout);
    /* The harness starting its own case child (Wine's transient 1359 is retried:
     * start_process.h), not the shim under test. */
    if (!start_process(self, line, TRUE, &si, &pi)) {
        printf("harness-createprocess-failed %lu\n", (unsigned long)GetLastError());
        return 3;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    printf("exit %d %lu\n", index, (unsigned long)code);
    fflush(stdout);
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    spec_case ignored;
    int count, i;

    if (argc == 3)
        return run_case(argv[1], (int)wcstol(argv[2], NULL, 10));
    if (argc != 2)
        return 2;
    count = load_spec(argv[1], -1, &ignored);
    if (count < 0) {
        printf("cannot read spec\n");
        return 2;
    }
    for (i = 0; i < count; i++)
        if (run_child_case(argv[1], i))
            return 3;
    return 0;
}
