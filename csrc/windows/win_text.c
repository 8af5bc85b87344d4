/*
 * win_text.c - text for the CreateProcessW shim (see win_text.h).
 *
 * All strings crossing the reexec.h API are UTF-8; Windows gets UTF-16 through
 * the wide (W) APIs only: the A APIs are exposed to the "WorstFit" best-fit
 * conversion attack (uv PR #11049). Invalid UTF-8 is an error
 * (MB_ERR_INVALID_CHARS), never replaced.
 */
#include "win_text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int reexec_win_errno_from_win32(DWORD code)
{
    switch (code) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_INVALID_DRIVE:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_NET_NAME:
    case ERROR_BAD_PATHNAME:
    case ERROR_DIRECTORY:
        return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
        return EACCES;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case ERROR_FILENAME_EXCED_RANGE:
        return ENAMETOOLONG;
    case ERROR_NO_UNICODE_TRANSLATION:
        return EILSEQ;
    case ERROR_INSUFFICIENT_BUFFER:
        return ERANGE;
    case ERROR_INVALID_PARAMETER:
        return EINVAL;
    default:
        return EIO;
    }
}

/* ------------------------------------------------------------------ */
/* UTF-8 -> UTF-16                                                     */

DWORD reexec_win_utf8_to_wide(const char *text, wchar_t **out)
{
    int units;

    *out = NULL;
    units = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, NULL, 0);
    if (units <= 0)
        return GetLastError();
    *out = malloc((size_t)units * sizeof(wchar_t));
    if (!*out)
        return ERROR_NOT_ENOUGH_MEMORY;
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, *out, units) <= 0) {
        DWORD err = GetLastError();
        free(*out);
        *out = NULL;
        return err;
    }
    return 0;
}

DWORD reexec_win_wide_to_utf8(const wchar_t *text, char **out)
{
    int bytes;

    *out = NULL;
    bytes = WideCharToMultiByte(CP_UTF8, 0, text, -1, NULL, 0, NULL, NULL);
    if (bytes <= 0)
        return GetLastError();
    *out = malloc((size_t)bytes);
    if (!*out)
        return ERROR_NOT_ENOUGH_MEMORY;
    if (WideCharToMultiByte(CP_UTF8, 0, text, -1, *out, bytes, NULL, NULL) <= 0) {
        DWORD err = GetLastError();
        free(*out);
        *out = NULL;
        return err;
    }
    return 0;
}

void reexec_win_free_wide_list(wchar_t **list)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; list[i]; i++)
        free(list[i]);
    free(list);
}

DWORD reexec_win_utf8_list_to_wide(char *const list[], wchar_t ***out)
{
    size_t count = 0, i;
    wchar_t **wide;

    while (list[count])
        count++;
    wide = calloc(count + 1, sizeof(*wide));
    if (!wide)
        return ERROR_NOT_ENOUGH_MEMORY;
    for (i = 0; i < count; i++) {
        DWORD err = reexec_win_utf8_to_wide(list[i], &wide[i]);
        if (err) {
            reexec_win_free_wide_list(wide);
            return err;
        }
    }
    *out = wide;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Environment block                                                   */

/* Length of the variable name; a leading '=' belongs to the name ("=C:"). */
static size_t env_name_length(const wchar_t *entry)
{
    const wchar_t *eq = wcschr(entry + (entry[0] == L'=' ? 1 : 0), L'=');
    return eq ? (size_t)(eq - entry) : wcslen(entry);
}

/* CreateProcess wants the block sorted by name, case-insensitively, in
 * Unicode ordinal order, not by locale (as CPython's _winapi and Rust do). */
static int compare_env_entries(const void *a, const void *b)
{
    const wchar_t *x = *(const wchar_t *const *)a;
    const wchar_t *y = *(const wchar_t *const *)b;
    int order = CompareStringOrdinal(x, (int)env_name_length(x),
                                     y, (int)env_name_length(y), TRUE);
    return order - CSTR_EQUAL;
}

DWORD reexec_win_environment_block(char *const envp[], wchar_t **block)
{
    wchar_t **entries, **sorted;
    size_t count = 0, kept = 0, units = 1, i, pos = 0;
    DWORD err;

    err = reexec_win_utf8_list_to_wide(envp, &entries);
    if (err)
        return err;
    while (entries[count])
        count++;
    sorted = calloc(count + 1, sizeof(*sorted));
    if (!sorted) {
        reexec_win_free_wide_list(entries);
        return ERROR_NOT_ENOUGH_MEMORY;
    }
    for (i = 0; i < count; i++) {
        size_t name = env_name_length(entries[i]);
        if (name == 0 || entries[i][name] != L'=')
            continue; /* not NAME=VALUE: Windows would misread the block */
        sorted[kept++] = entries[i];
        units += wcslen(entries[i]) + 1;
    }
    qsort(sorted, kept, sizeof(*sorted), compare_env_entries);
    if (kept == 0)
        units = 2; /* an empty block is two NULs */
    *block = malloc(units * sizeof(wchar_t));
    if (*block) {
        for (i = 0; i < kept; i++) {
            size_t n = wcslen(sorted[i]) + 1;
            memcpy(*block + pos, sorted[i], n * sizeof(wchar_t));
            pos += n;
        }
        if (kept == 0)
            (*block)[pos++] = L'\0';
        (*block)[pos] = L'\0';
    }
    free(sorted);
    reexec_win_free_wide_list(entries);
    return *block ? 0 : ERROR_NOT_ENOUGH_MEMORY;
}
