/* The escaping each CI format needs: evidence is whatever a service printed (bytes from a
 * crash log, a body of HTML), and a report a CI cannot parse is worse than none. */
#include <stdlib.h>
#include <string.h>

#include "ci_report.h"
#include "rollgate/util.h"

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one. */
static size_t
utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1Fu;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0Fu;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    /* overlong forms, surrogates, beyond Unicode, and U+FFFE/U+FFFF are not XML characters */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF || cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return n;
}

void
rg_ci_xml_escape(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    while (*p) {
        size_t n = utf8_len(p);
        switch (n ? *p : 0) {
        case 0: fputc('?', f); p++; continue; /* not UTF-8: one byte replaced */
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        case '\t':
        case '\n': fputc(*p, f); break;
        default:
            if (*p >= 0x20 && *p != 0x7F)
                fwrite(p, 1, n, f);
            break; /* other control characters are dropped */
        }
        p += n;
    }
}

static void
gh_escape(FILE *f, const char *s, bool property)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '%': fputs("%25", f); break;
        case '\r': fputs("%0D", f); break;
        case '\n': fputs("%0A", f); break;
        case ':': fputs(property ? "%3A" : ":", f); break;
        case ',': fputs(property ? "%2C" : ",", f); break;
        default: fputc(*p, f); break;
        }
    }
}

void
rg_ci_gh_data(FILE *f, const char *s)
{
    gh_escape(f, s, false);
}

void
rg_ci_gh_property(FILE *f, const char *s)
{
    gh_escape(f, s, true);
}

char *
rg_ci_workspace_path(const char *playbook, const char *workspace)
{
    char *abs = realpath(playbook, NULL), *ws = workspace && *workspace
                                                    ? realpath(workspace, NULL) : NULL;
    char *out;
    size_t wl;

    if (abs && ws && (wl = strlen(ws)) > 0 && strncmp(abs, ws, wl) == 0 && abs[wl] == '/')
        out = rg_strdup(abs + wl + 1);
    else if (playbook[0] != '/' && !(playbook[0] == '.' && playbook[1] == '/'))
        out = rg_strdup(playbook);
    else
        out = rg_strdup(playbook[0] == '.' ? playbook + 2 : playbook);
    free(abs);
    free(ws);
    return out;
}
