/* libFuzzer target: URL decoding + path normalisation. Whatever it
 * accepts must be a clean absolute path: no "..", "." or empty segments,
 * no NUL, backslash or control bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    size_t cap = (size_t)(data[0 % (size ? size : 1)] % 64) + 1;
    if (size && data[0] & 1)
        cap = size + 2;
    char *out = malloc(cap);
    size_t n = 0;
    enum http_err e = http_decode_path(in, size, out, cap, &n);
    if (e == HTTP_OK) {
        if (n == 0 || n >= cap || out[0] != '/' || out[n] != '\0' || strlen(out) != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)out[i];
            if (c < 0x20 || c == 0x7f || c == '\\')
                abort();
        }
        if (strstr(out, "//") || strstr(out, "/../") || strstr(out, "/./"))
            abort();
        if ((n >= 3 && memcmp(out + n - 3, "/..", 3) == 0) ||
            (n >= 2 && memcmp(out + n - 2, "/.", 2) == 0))
            abort();
    } else if (e != HTTP_E_BAD_REQUEST && e != HTTP_E_URI_TOO_LONG) {
        abort();
    }
    free(in);
    free(out);
    return 0;
}
