/* skip_argument.h - shared by the Windows test parents that pass on the tail of
 * their own command line. */
#ifndef SKIP_ARGUMENT_H
#define SKIP_ARGUMENT_H

#include <wchar.h>

/* Skips one argument by the argv[0] rule (quotes, no escapes) and the blanks after it. */
static wchar_t *skip_argument(wchar_t *line)
{
    int quoted = 0;

    for (; *line; line++) {
        if (*line == L'"')
            quoted = !quoted;
        else if (!quoted && (*line == L' ' || *line == L'\t'))
            break;
    }
    while (*line == L' ' || *line == L'\t')
        line++;
    return line;
}

#endif
