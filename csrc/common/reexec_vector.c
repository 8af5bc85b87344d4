/* reexec_vector: exec's argv/envp vector over one packed buffer; reexec_strings: the
 * sizes of such strings (every platform). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "reexec.h"

int reexec_vector(char *buf, size_t len, char **vec, size_t count)
{
    size_t i, off = 0;
    char *end;

    if (buf == NULL || vec == NULL)
        return EINVAL;
    for (i = 0; i < count; i++) {
        if (off >= len)
            return EINVAL; /* fewer strings than count */
        end = memchr(buf + off, '\0', len - off);
        if (end == NULL)
            return EINVAL; /* the last string is not terminated */
        vec[i] = buf + off;
        off = (size_t)(end - buf) + 1;
    }
    if (off != len && !(count == 0 && len == 1 && buf[0] == '\0'))
        return EINVAL; /* more strings than count: a NUL inside one */
    vec[count] = NULL;
    return 0;
}

size_t reexec_strings(const char *buf, size_t len, size_t *longest)
{
    size_t count = 0, off = 0, max = 0, n;
    const char *end;

    if (buf != NULL) {
        for (;;) {
            end = memchr(buf + off, '\0', len - off);
            n = (end == NULL ? len : (size_t)(end - buf)) - off;
            if (n > max)
                max = n;
            count++;
            if (end == NULL)
                break;
            off = (size_t)(end - buf) + 1;
        }
    }
    if (longest != NULL)
        *longest = max;
    return count;
}
