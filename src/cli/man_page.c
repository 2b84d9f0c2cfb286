/* `rollgate help --man`: the manual page, made from the same command table as --help, so the
 * two cannot disagree. Installed as share/man/man1/rollgate.1. */
#include <string.h>

#include "cmd.h"
#include "rollgate_version.h"

/* Writes text as troff: backslashes and dashes escaped, a line starting with '.' or '\''
 * protected. */
static void
roff(FILE *out, const char *text)
{
    bool bol = true;

    for (const char *p = text; *p; p++) {
        if (bol && (*p == '.' || *p == '\''))
            fputs("\\&", out);
        bol = false;
        switch (*p) {
        case '\\': fputs("\\e", out); break;
        case '-': fputs("\\-", out); break;
        case '\n':
            /* The help's lines are wrapped for a terminal: troff fills them again. A line that
             * starts with spaces (an example) breaks by itself. */
            fputc('\n', out);
            bol = true;
            break;
        default: fputc(*p, out);
        }
    }
    if (!bol)
        fputc('\n', out);
}

/* The same inside a line (a heading, an option's tag): no line breaks, no leading escape. */
static void
roff_inline(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else if (*p == '"')
            fputs("\\(dq", out);
        else if (*p != '\n')
            fputc(*p, out);
    }
}

void
rg_cli_print_man(FILE *out)
{
    fprintf(out, ".TH ROLLGATE 1 \"\" \"rollgate %s\" \"User Commands\"\n", ROLLGATE_VERSION);
    fputs(".SH NAME\nrollgate \\- deploys that check themselves and roll back by themselves\n",
          out);
    fputs(".SH SYNOPSIS\n.B rollgate\n[\\-v] [\\-\\-version] [\\-\\-help] COMMAND [OPTIONS] "
          "[ARGS]\n",
          out);
    fputs(".SH DESCRIPTION\n", out);
    roff(out, "Deploys a release by a YAML playbook, checks it with health gates and, when they "
              "fail, repairs, rolls back or restores by itself. Every transition is written to "
              "a ledger first, so a killed run resumes where it stopped.");
    fputs(".SH COMMANDS\n", out);
    for (size_t i = 0; rg_cmd_table[i]; i++) {
        const struct rg_cmd *c = rg_cmd_table[i];
        fprintf(out, ".SS \"rollgate %s ", c->name);
        roff_inline(out, c->usage ? c->usage : "");
        fputs("\"\n", out);
        roff(out, c->summary);
        if (c->description) {
            fputs(".PP\n", out);
            roff(out, c->description);
        }
        for (const struct rg_opt *o = c->opts; o && o->name; o++) {
            fputs(".TP\n.BI \"", out);
            if (o->short_name)
                fprintf(out, "\\-%c, ", o->short_name);
            fputs("\\-\\-", out);
            roff_inline(out, o->name);
            fputs(o->arg ? " \" \"" : "\"", out);
            if (o->arg)
                roff_inline(out, o->arg);
            fputs(o->arg ? "\"\n" : "\n", out);
            roff(out, o->help);
        }
    }
    fputs(".SH EXIT STATUS\n", out);
    roff(out, "0 ok, 1 recovered (the deploy failed, a rung brought the service back), "
              "2 unrecovered, 3 aborted (nothing changed), 4 busy (another run holds the lock), "
              "5 gates failed (check), 64 usage, 65 invalid input, 70 internal, 73 a directory "
              "or file cannot be created, 77 no permission.");
    fputs(".SH FILES\n", out);
    roff(out, "STATE_DIR/NAME.db: the ledger of target NAME (SQLite); STATE_DIR/NAME.lock: its "
              "lock; STATE_DIR/NAME.upstreams: the nginx upstream file as rollgate last wrote "
              "it. STATE_DIR is the playbook's state_dir (default /var/lib/rollgate).");
    fputs(".SH SEE ALSO\n", out);
    roff(out, "The user guide in share/doc/rollgate: playbook.md (every key), commands.md, "
              "switch.md, backups.md, exit-codes.md, ci-and-hooks.md; example playbooks in "
              "share/rollgate/playbooks.");
}
