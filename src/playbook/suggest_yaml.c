/* Suggestions a person pastes back into a playbook: YAML that means exactly what the message
 * says. A flow-sequence item such as `base,web` must be quoted (YAML would split it at the
 * comma), and a shell command line is split the way the shell would split it. */
#include <string.h>

#include "internal.h"

/* Whether s can be a plain scalar inside a flow sequence and still read back as s (spaces are
 * legal there, but a quoted item with spaces reads as one item to a person too). */
static bool
plain_in_flow(const char *s)
{
    size_t n = strlen(s);

    if (!n || strchr(",[]{}#&*!|>'\"%@`", s[0]))
        return false;
    /* What YAML reads as null, which is no string. */
    static const char *const words[] = {"~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(s, words[i]) == 0)
            return false;
    /* '-' and '?' start a plain scalar unless a space (or nothing) follows. */
    if ((s[0] == '-' || s[0] == '?') && (n == 1 || s[1] == ' '))
        return false;
    /* ':' and '#' are safe in some places; quoting them everywhere is simpler to trust. */
    return strcspn(s, ",[]{}:# \t\n\\") == n;
}

void
pb_yaml_flow_item(struct rg_buf *out, const char *s)
{
    if (plain_in_flow(s)) {
        rg_buf_adds(out, s);
        return;
    }
    rg_buf_adds(out, "'");
    for (const char *p = s; *p; p++)
        rg_buf_adds(out, *p == '\'' ? "''" : (char[]){*p, '\0'});
    rg_buf_adds(out, "'");
}

int
pb_shell_words(struct rg_strv *out, const char *line)
{
    struct rg_buf w;
    const char *p = line;

    rg_buf_init(&w, 4096);
    for (;;) {
        bool word = false;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        rg_buf_reset(&w);
        while (*p && *p != ' ' && *p != '\t') {
            word = true;
            if (*p == '\'') {
                const char *end = strchr(p + 1, '\'');
                if (!end)
                    goto unbalanced;
                rg_buf_add(&w, p + 1, (size_t)(end - p - 1));
                p = end + 1;
            } else if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                    if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                        p++;
                    rg_buf_add(&w, p, 1);
                }
                if (!*p)
                    goto unbalanced;
                p++;
            } else if (*p == '\\' && p[1]) {
                rg_buf_add(&w, p + 1, 1);
                p += 2;
            } else {
                rg_buf_add(&w, p++, 1);
            }
        }
        if (word)
            rg_strv_push(out, w.data ? w.data : "");
    }
    rg_buf_release(&w);
    return 0;
unbalanced:
    rg_buf_release(&w);
    return -1;
}

/* The POSIX form of a Perl class escape: outside brackets a whole bracket expression, inside
 * one its content; NULL when there is none to write inside brackets. */
static const char *
posix_class(char c, bool inside)
{
    switch (c) {
    case 'd': return inside ? "0-9" : "[0-9]";
    case 'D': return inside ? NULL : "[^0-9]";
    case 'w': return inside ? "[:alnum:]_" : "[[:alnum:]_]";
    case 'W': return inside ? NULL : "[^[:alnum:]_]";
    case 's': return inside ? "[:space:]" : "[[:space:]]";
    case 'S': return inside ? NULL : "[^[:space:]]";
    default: return NULL;
    }
}

int
pb_regex_perl_escapes(struct rg_buf *rewritten, char *found, bool *in_brackets, const char *re)
{
    bool inside = false, any = false, exact = true;

    for (const char *p = re; *p; p++) {
        /* glibc reads \w \W \s \S \b \B outside brackets as GNU extensions that do what Perl's
         * do; \d and \D it reads as the letters, and inside brackets every backslash is one. */
        if (inside && p[0] == '\\' && p[1] == '\\') { /* "[\\d]": a backslash and a 'd' */
            rg_buf_add(rewritten, p, 2);
            p++;
            continue;
        }
        bool wrong = *p == '\\' && p[1] && (inside ? strchr("dDwWsSbB", p[1]) != NULL
                                                    : (p[1] == 'd' || p[1] == 'D'));
        if (wrong) {
            const char *posix = posix_class(p[1], inside);
            if (!any) {
                *found = p[1];
                *in_brackets = inside;
            }
            any = true;
            if (posix)
                rg_buf_adds(rewritten, posix);
            else
                exact = false;
            p++;
            continue;
        }
        if (*p == '\\' && p[1] && !inside) {
            rg_buf_add(rewritten, p, 2);
            p++;
            continue;
        }
        if (*p == '[' && !inside) {
            inside = true;
            rg_buf_add(rewritten, p, 1);
            /* A ']' right after '[' or '[^' is a member, not the end. */
            if (p[1] == '^')
                rg_buf_add(rewritten, ++p, 1);
            if (p[1] == ']')
                rg_buf_add(rewritten, ++p, 1);
            continue;
        }
        if (*p == '[' && inside && p[1] == ':') {
            const char *end = strstr(p + 2, ":]");
            if (end) {
                rg_buf_add(rewritten, p, (size_t)(end + 2 - p));
                p = end + 1;
                continue;
            }
        }
        if (*p == ']' && inside)
            inside = false;
        rg_buf_add(rewritten, p, 1);
    }
    return any ? (exact ? 1 : 2) : 0;
}
