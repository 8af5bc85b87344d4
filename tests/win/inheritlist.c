/*
 * inheritlist.c - reexec_win_inherit_list (csrc/windows/win_child.c, linked in): the
 * handles the shim's child may inherit. Prints one "ok NAME" or "FAIL NAME ..." line
 * per check, then "done".
 */
#include "win_child.h"

#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *name, const inherit_list *list)
{
    if (ok) {
        printf("ok %s\n", name);
        return;
    }
    failures++;
    printf("FAIL %s count=%d\n", name, list->count);
}

static HANDLE event(BOOL inheritable)
{
    SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, inheritable };
    return CreateEventW(&sa, TRUE, FALSE, NULL);
}

int wmain(void)
{
    HANDLE a = event(TRUE), b = event(TRUE), private_one = event(FALSE);
    STARTUPINFOW si;
    inherit_list list;

    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;

    si.hStdInput = a;
    si.hStdOutput = b;
    si.hStdError = b; /* stdout and stderr the same handle: listed once */
    reexec_win_inherit_list(&si, &list);
    check(list.count == 2 && list.handles[0] == a && list.handles[1] == b, "duplicates-once", &list);

    si.hStdInput = private_one; /* not inheritable: CreateProcessW would refuse the list */
    si.hStdOutput = NULL;
    si.hStdError = INVALID_HANDLE_VALUE;
    reexec_win_inherit_list(&si, &list);
    check(list.count == 0, "none-usable-empty", &list);

    si.hStdInput = (HANDLE)(ULONG_PTR)3; /* a Windows 7 console pseudo-handle's shape */
    si.hStdOutput = a;
    si.hStdError = private_one;
    reexec_win_inherit_list(&si, &list);
    check(list.count == 1 && list.handles[0] == a, "pseudo-and-private-left-out", &list);

    CloseHandle(a);
    CloseHandle(b);
    CloseHandle(private_one);
    printf("done\n");
    return failures ? 1 : 0;
}
