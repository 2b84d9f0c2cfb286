#!/usr/bin/env python3
"""Runs the shell of the CI recipes under examples/ci/ as their CI would, on this machine.

  ci_examples.py github WORKFLOW WORKSPACE TAG        the workflow's first job, step by step
  ci_examples.py gitlab CI_FILE WORKSPACE TAG [JOB]   a job's script (default: `deploy`)

Only what the recipes use is understood: for GitHub, `run` steps (bash -eo pipefail, as the
runner runs them), `${{ }}` expressions of the form `a.b || c.d` over github, inputs and
steps.ID.outputs, `if:` with always(), success() and failure(), and the actions
actions/checkout (the test has prepared the workspace) and actions/upload-artifact (its path must
exist); for GitLab, `rules: - if: $VAR =~ /re/` (optionally `&& $OTHER`, set and not empty),
`variables` (the environment wins, as CI/CD variables win over a job's), `script`,
`allow_failure: exit_codes` and `artifacts: reports: junit`. Anything else is an error, never
skipped.

Prints one line per step and ends with `job: success`, `job: failure` or (GitLab)
`job: allowed_failure`; exits with the job's code (0, or the failing step's).
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def lookup(ctx, path):
    cur = ctx
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ""
        cur = cur[part]
    return cur if isinstance(cur, str) else ""


def evaluate(expr, ctx):
    for operand in expr.split("||"):
        operand = operand.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", operand):
            raise SystemExit(f"ci_examples: unsupported expression '{expr}'")
        value = lookup(ctx, operand)
        if value:
            return value
    return ""


def substitute(text, ctx):
    return EXPR.sub(lambda m: evaluate(m.group(1), ctx), str(text))


def should_run(cond, failed):
    if cond is None:
        return not failed
    cond = EXPR.sub(lambda m: m.group(1), str(cond)).strip()
    if cond == "always()":
        return True
    if cond == "failure()":
        return failed
    if cond == "success()":
        return not failed
    raise SystemExit(f"ci_examples: unsupported condition '{cond}'")


def read_outputs(path):
    """$GITHUB_OUTPUT: name=value lines and name<<DELIM ... DELIM blocks."""
    out, lines, i = {}, open(path, encoding="utf-8").read().split("\n"), 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:j])
            i = j + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


def run_shell(script, env, cwd):
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          env=env, cwd=cwd).returncode


def github(path, workspace, tag):
    wf = yaml.safe_load(open(path, encoding="utf-8"))
    job_name, job = next(iter(wf["jobs"].items()))
    tmp = tempfile.mkdtemp(prefix="rg-gh-")
    summary = os.path.join(tmp, "step_summary.md")
    open(summary, "w").close()
    ctx = {"github": {"ref_name": tag, "actor": "ci-bot", "workspace": workspace},
           "inputs": {}, "steps": {}}
    base = dict(os.environ, GITHUB_ACTIONS="true", CI="true", GITHUB_ACTOR="ci-bot",
                GITHUB_REF_NAME=tag, GITHUB_WORKSPACE=workspace, GITHUB_STEP_SUMMARY=summary,
                RUNNER_TRACKING_ID=f"github_{os.getpid()}")
    for k, v in (job.get("env") or {}).items():
        base[k] = substitute(v, ctx)
    failed, code = False, 0
    for n, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses") or f"step {n}"
        if not should_run(step.get("if"), failed):
            print(f"step {name}: not run")
            continue
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action == "actions/checkout":
                rc = 0
            elif action == "actions/upload-artifact":
                rc = 0 if os.path.exists(os.path.join(workspace, step["with"]["path"])) else 1
            else:
                raise SystemExit(f"ci_examples: unknown action {step['uses']}")
        else:
            env = dict(base)
            out_file = os.path.join(tmp, f"output_{n}")
            open(out_file, "w").close()
            env["GITHUB_OUTPUT"] = out_file
            for k, v in (step.get("env") or {}).items():
                env[k] = substitute(v, ctx)
            sys.stdout.flush()
            rc = run_shell(substitute(step["run"], ctx), env, workspace)
            if "id" in step:
                ctx["steps"][step["id"]] = {"outputs": read_outputs(out_file),
                                           "outcome": "success" if rc == 0 else "failure"}
        print(f"step {name}: exit {rc}")
        if rc != 0 and not failed:
            failed, code = True, rc
    sys.stdout.flush()
    os.replace(summary, os.path.join(workspace, "step_summary.md"))
    print(f"job {job_name}: {'failure' if failed else 'success'}")
    return code


def gitlab(path, workspace, tag, name="deploy"):
    job = yaml.safe_load(open(path, encoding="utf-8"))[name]
    env = dict(os.environ, GITLAB_CI="true", CI="true", CI_COMMIT_TAG=tag,
               GITLAB_USER_LOGIN="ci-bot", CI_PROJECT_DIR=workspace, CI_JOB_ID=str(os.getpid()))
    for rule in job.get("rules", []):
        m = re.fullmatch(r"\$(\w+)\s*=~\s*/(.*)/(?:\s*&&\s*\$(\w+))?", rule["if"])
        if not m:
            raise SystemExit(f"ci_examples: unsupported rule '{rule['if']}'")
        if not re.search(m.group(2), env.get(m.group(1), "")) or \
                (m.group(3) and not env.get(m.group(3))):
            print(f"job {name}: not run (rules)")
            return 0
    for k, v in (job.get("variables") or {}).items():
        env.setdefault(k, str(v))
    for line in job["script"]:
        if not isinstance(line, str):
            raise SystemExit(f"ci_examples: a script line of {name} is not a string in YAML "
                             f"(a ': ' in it?): {line!r}")
    sys.stdout.flush()
    rc = run_shell("\n".join(job["script"]), env, workspace)
    junit = job.get("artifacts", {}).get("reports", {}).get("junit")
    if junit and not os.path.exists(os.path.join(workspace, junit)):
        print(f"job {name}: the junit report {junit} is missing")
        return 70
    allowed = (job.get("allow_failure") or {}).get("exit_codes", [])
    state = "success" if rc == 0 else "allowed_failure" if rc in allowed else "failure"
    print(f"job {name}: {state} (exit {rc})")
    return rc


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[1] not in ("github", "gitlab") or \
            (len(sys.argv) == 6 and sys.argv[1] != "gitlab"):
        raise SystemExit(__doc__)
    kind, path, workspace, tag = sys.argv[1:5]
    if kind == "github":
        sys.exit(github(path, workspace, tag))
    sys.exit(gitlab(path, workspace, tag, *sys.argv[5:]))


if __name__ == "__main__":
    main()
