#!/usr/bin/env bash
# End-to-end tests of the rollgate binary: exit codes and the exact lines a user sees.
set -u
bin=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect NAME WANT_EXIT WANT_SUBSTRING -- ARGS...: runs rollgate, checks exit and output.
expect() {
    local name=$1 want_rc=$2 want_out=$3
    shift 4
    local out rc
    out=$(cd "$tmp" && timeout 10 "$bin" "$@" 2>&1)
    rc=$?
    if [ "$rc" -ne "$want_rc" ]; then
        echo "FAIL $name: exit $rc, want $want_rc"; echo "$out" | sed 's/^/    /'
        fail=$((fail + 1)); return
    fi
    if [ -n "$want_out" ] && ! grep -qF -- "$want_out" <<<"$out"; then
        echo "FAIL $name: output lacks: $want_out"; echo "$out" | sed 's/^/    /'
        fail=$((fail + 1)); return
    fi
    echo "ok   $name"
    pass=$((pass + 1))
}

cp "$src"/playbooks/*.yml "$tmp/"

expect version 0 "rollgate 0." -- --version
expect help 0 "validate   check playbooks" -- --help
expect help_cmd 0 "usage: rollgate plan [--tag TAG] [--json] PLAYBOOK" -- help plan
expect cmd_help_flag 0 "--tag TAG" -- plan --help
expect no_command 64 "commands:" --
expect unknown_command 64 "rollgate: unknown command 'valdate' (did you mean 'validate'?)" -- valdate x.yml
expect unknown_command_far 64 "rollgate: unknown command 'frobnicate' (see 'rollgate --help')" -- frobnicate
expect unknown_option 64 "rollgate: plan: unknown option '--jsn' (did you mean '--json'?)" -- plan --jsn odoo.yml
expect unknown_global 64 "rollgate: unknown option '--frob'" -- --frob validate
expect missing_arg 64 "rollgate: validate: missing arguments; usage: rollgate validate [--no-env] [--json] PLAYBOOK..." -- validate
expect too_many 64 "rollgate: plan: too many arguments" -- plan a.yml b.yml
expect option_needs_value 64 "rollgate: plan: option '--tag' needs a value (TAG)" -- plan odoo.yml --tag
expect flag_with_value 64 "rollgate: plan: option '--json' takes no value" -- plan --json=yes odoo.yml

expect validate_examples 0 "odoo.yml: ok (target 'odoo-prod'" -- validate odoo.yml fastapi-nextjs.yml demo.yml
# The systemd driver: its examples validate, and what it cannot do is refused where it is written.
expect validate_systemd_examples 0 "gunicorn-systemd.yml: ok (target 'gunicorn-app', systemd driver" -- validate gunicorn-systemd.yml odoo-systemd.yml
sd_head='version: 1
name: s
runtime: {driver: systemd, unit: app.service, root: /srv/app}
release: {git: /srv/app.git, tag_pattern: "^v[0-9]+$"}'
sd_tail='deploy: [switch, up, {verify: [h]}]'
# sd_refuses NAME MESSAGE YAML_MIDDLE: a systemd playbook with YAML_MIDDLE between head and
# tail is refused by validate with MESSAGE.
sd_refuses() {
    printf '%s\n%s\n%s\n' "$sd_head" "$3" "$sd_tail" >"$tmp/sd-$1.yml"
    expect "systemd_refuses_$1" 65 "$2" -- validate "sd-$1.yml"
}
sd_refuses container_gate "sd-container_gate.yml:7:3: gates.c: the systemd driver has no containers for a container gate" 'gates:
  h: {http: "http://127.0.0.1/"}
  c: {container: app}'
sd_refuses switch_strategy "strategy: the systemd driver cannot start a release beside the serving one, which strategy 'switch' needs" 'gates: {h: {http: "http://127.0.0.1/"}}
strategy: switch
proxy: {upstream_file: /etc/nginx/u.conf, upstreams: {app: {service: app.service, port: 80}}}'
sd_refuses bad_unit "sd-bad_unit.yml:7:13: gates.u.unit: invalid unit '-x.service' (a service unit such as 'app.service'" 'gates:
  h: {http: "http://127.0.0.1/"}
  u: {unit: "-x.service"}'
printf '%s\n' 'version: 1' 'name: s' 'runtime: {driver: systemd, unit: app.service, root: /srv/app}' \
    'release: {git: /srv/app.git, image: reg/app, tag_pattern: "^v$"}' 'gates: {h: {http: "http://127.0.0.1/"}}' "$sd_tail" >"$tmp/sd-image.yml"
expect systemd_refuses_image 65 "sd-image.yml:4:37: release: the systemd driver runs no image: remove 'image' (releases come from 'git' or 'uploads')" -- validate sd-image.yml
printf '%s\n' 'version: 1' 'name: s' 'runtime: {driver: systemd, unit: app.service}' \
    'release: {tag_pattern: "^v$"}' 'gates: {h: {http: "http://127.0.0.1/"}}' "$sd_tail" >"$tmp/sd-noroot.yml"
expect systemd_needs_root 65 "runtime: the systemd driver needs 'root' (the directory of releases/<tag> and the 'current' link the unit runs from), or 'env_file' and 'tag_var' (where the unit reads the tag)" -- validate sd-noroot.yml
printf '%s\n' 'version: 1' 'name: s' 'runtime: {driver: systemd, unit: app.service, root: /srv/app, services: [web]}' \
    'release: {tag_pattern: "^v$"}' 'gates: {h: {http: "http://127.0.0.1/"}}' "$sd_tail" >"$tmp/sd-nosource.yml"
expect systemd_one_unit 65 "the systemd driver deploys one unit: name it in 'unit', not 'services'" -- validate sd-nosource.yml
expect systemd_needs_source 65 "release: the systemd driver needs where releases come from: 'git' (a repository whose tags are the releases) or 'uploads' (where CI uploads <tag>/ and writes .rollgate-complete last)" -- validate sd-nosource.yml
printf '%s\n' 'version: 1' 'name: c' 'runtime: {driver: compose, project_dir: /s, tag_var: T, services: [app], root: /srv/app}' \
    'release: {image: reg/app, tag_pattern: "^v$"}' 'gates: {h: {http: "http://127.0.0.1/"}, u: {unit: app.service}}' \
    'deploy: [pull, up, {verify: [h]}]' >"$tmp/compose-sd-keys.yml"
expect compose_refuses_root 65 "compose-sd-keys.yml:3:80: runtime: 'root' is for the systemd driver; the compose driver does not read it" -- validate compose-sd-keys.yml
printf '%s\n' 'version: 1' 'name: s' 'runtime: {driver: systemd, unit: app.service, root: /srv/app, command_prefix: [ssh, -T, app1, --]}' \
    'release: {git: /srv/app.git, tag_pattern: "^v$"}' 'gates: {h: {http: "http://127.0.0.1/"}}' "$sd_tail" >"$tmp/sd-ssh.yml"
expect systemd_refuses_ssh 65 "sd-ssh.yml:3:79: runtime: another host through ssh is not supported yet: rollgate writes the releases (and env_file) on the host it runs on, so run it on the unit's host" -- validate sd-ssh.yml
sed 's/, root: \/srv\/app//' "$tmp/compose-sd-keys.yml" >"$tmp/compose-unit-gate.yml"
expect compose_refuses_unit_gate 65 "compose-unit-gate.yml:5:41: gates.u: the compose driver has no systemd units for a unit gate (use a container gate)" -- validate compose-unit-gate.yml
expect validate_missing 65 "rollgate: cannot open playbook 'nope.yml': No such file or directory" -- validate nope.yml

# The issue's acceptance case: four different problems, all reported with file:line:column.
cat > "$tmp/four.yml" <<'YAML'
version: 1
name: four
runtime: {driver: compose, project_dir: /srv/x, tag_var: TAG, services: [app]}
release: {image: reg/x, tag_pattern: '^v[0-9]+$'}
gates:
  health: {http: "http://127.0.0.1/health", expct: [200]}
  db: {postgres: "dbname=x", max_connections_used: lots}
  ready: {command: "pg_isready -h db"}
deploy: [pull, up, {verify: [helth, db, ready]}]
YAML
expect four_errors_1 65 "four.yml:6:45: gates.health: unknown key 'expct' (did you mean 'expect'?)" -- validate four.yml
expect four_errors_2 65 "four.yml:7:52: gates.db.max_connections_used: invalid percentage 'lots' (write it like 80%)" -- validate four.yml
expect four_errors_3 65 "four.yml:8:20: gates.ready.command: expected an argv array, got the string 'pg_isready -h db': commands never run through a shell, write it as [pg_isready, -h, db]" -- validate four.yml
expect four_errors_4 65 "four.yml:9:20: deploy[2]: unknown gate 'helth' (did you mean 'health'?)" -- validate four.yml
expect four_errors_sum 65 "rollgate: playbook 'four.yml' has 4 problems" -- validate four.yml
expect validate_mixed 65 "demo.yml: ok" -- validate four.yml demo.yml

# Hostile documents: a clear error and exit 65, quickly, never a signal.
printf 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n' > "$tmp/laughs.yml"
expect billion_laughs 65 "laughs.yml:2:8: alias '*a' is not allowed in a playbook (write the value out)" -- validate laughs.yml
printf '&a [*a]\n' > "$tmp/cycle.yml"
expect self_alias 65 "cycle.yml:1:5: alias '*a' is not allowed" -- validate cycle.yml
python3 -c "print('[' * 5000 + ']' * 5000)" > "$tmp/deep.yml"
expect deep_nesting 65 "deep.yml:1:33: nesting deeper than 32 levels" -- validate deep.yml
: > "$tmp/empty.yml"
expect empty_file 65 "empty.yml: file is empty" -- validate empty.yml
head -c 4096 /dev/urandom > "$tmp/random.yml"
expect random_bytes 65 "rollgate: playbook 'random.yml' is not valid" -- validate random.yml
python3 -c "print('#' * (1024 * 1024 + 10))" > "$tmp/huge.yml"
expect too_large 65 "huge.yml: file is larger than the 1048576-byte limit for a playbook" -- validate huge.yml

expect plan_text 0 "   3 PULL        pull registry.example.com/acme/odoo:v1.4.2 for odoo" -- plan odoo.yml --tag v1.4.2
expect plan_rungs 0 "rung 1  rollback: roll back to the previous known-good release" -- plan odoo.yml --tag v1.4.2
expect plan_probe 0 "must pass on the candidate alone (service names as hosts reach it); a failure removes it: users never see it; db, public do not reach it and judge from VERIFY on" -- plan odoo.yml --tag v1.4.2
expect plan_proxy 0 "   6 PROXY       point upstreams odoo, odoo_lp in /etc/nginx/conf.d/odoo-upstreams.conf at the candidate" -- plan odoo.yml --tag v1.4.2
expect plan_bad_tag 65 "rollgate: plan: tag 'latest' does not match the playbook's tag_pattern" -- plan odoo.yml --tag latest
expect plan_hostile_tag 65 "rollgate: plan: invalid tag 'v1;reboot'" -- plan odoo.yml --tag 'v1;reboot'

# --json is one valid document that names every step, gate and rung.
if out=$(cd "$tmp" && "$bin" plan odoo.yml --tag v1.4.2 --json) &&
   python3 - "$out" <<'PY'
import json, sys
doc = json.loads(sys.argv[1])
states = [s["state"] for s in doc["deploy"]]
assert states == ["PREFLIGHT", "BACKUP", "PULL", "CANDIDATE", "PROBE", "PROXY", "VERIFY", "SETTLE", "RETIRE", "COMMIT"], states
assert sorted(doc["gates"]) == sorted(["running", "health", "login", "assets", "live", "db", "public", "errors"])
assert [r["rung"] for r in doc["recover"]] == ["rollback", "restore"]
assert [s["state"] for s in doc["recover"][0]["stages"]] == ["RECOVER", "SWITCH", "UP", "VERIFY", "SETTLE", "COMMIT"]
assert doc["gates"]["login"]["expect"] == [200, 303]
assert [s["on_fail"] for s in doc["deploy"][:6]] == ["ABORTED"] * 6
assert doc["deploy"][6]["on_fail"] == "RECOVER"
assert doc["recover"][1]["on_fail"] == "UNRECOVERED"
# Every field the text shows is structure too.
assert doc["defaults"] == {"every_ms": 2000, "within_ms": 120000, "need": 1, "timeout_ms": 5000}, doc["defaults"]
assert doc["backup"]["keep"] == 7 and doc["backup"]["before_deploy"] is True
assert doc["runtime"]["project_name"] is None and doc["current"] is None
assert doc["proxy"]["upstreams"]["odoo_lp"] == {"service": "odoo", "port": 8072}
h = doc["gates"]["health"]
assert h["fail_on"] == [] and h["body"] is None and h["tls_verify"] is True and h["headers"] == {}
assert doc["gates"]["db"]["max_connections_used_percent"] == 80.0
assert doc["gates"]["running"]["state"] == "running" and doc["gates"]["running"]["max_restarts"] == 0
assert doc["gates"]["errors"]["pattern"].startswith("Traceback")
PY
then echo "ok   plan_json"; pass=$((pass + 1)); else echo "FAIL plan_json"; fail=$((fail + 1)); fi

# A repair rung (strategy replace): its exec's argv as written, then its restart.
cat > "$tmp/repair.yml" <<'YAML'
version: 1
name: repair
runtime: {driver: compose, project_dir: /srv/x, tag_var: TAG, services: [odoo]}
release: {image: reg/x, tag_pattern: '^v[0-9]+$'}
gates: {health: {http: "http://127.0.0.1:8069/web/health"}}
deploy: [pull, up, {verify: [health]}]
recover:
  - repair: {exec: {service: odoo, run: [odoo, -d, odoo, -u, "base,web", --stop-after-init]}, restart: [odoo]}
  - rollback: previous
YAML
if out=$(cd "$tmp" && "$bin" plan repair.yml --tag v2 --json) &&
   python3 - "$out" <<'PY'
import json, sys
doc = json.loads(sys.argv[1])
assert [r["rung"] for r in doc["recover"]] == ["repair", "rollback"]
assert [s["state"] for s in doc["recover"][0]["stages"]] == ["RECOVER", "EXEC", "RESTART", "VERIFY", "COMMIT"], doc["recover"][0]["stages"]
assert doc["recover"][0]["stages"][1]["argv"] == ["odoo", "-d", "odoo", "-u", "base,web", "--stop-after-init"]
PY
then echo "ok   plan_repair_json"; pass=$((pass + 1)); else echo "FAIL plan_repair_json"; echo "$out" | head -c 3000; fail=$((fail + 1)); fi

# Secrets never reach the output.
cat > "$tmp/secret.yml" <<'YAML'
version: 1
name: secret
runtime: {driver: compose, project_dir: /srv/x, tag_var: TAG, services: [app]}
release: {image: reg/x, tag_pattern: '^v[0-9]+$'}
gates:
  db: {postgres: "host=db user=x password=hunter2 dbname=x"}
  web: {http: "http://admin:hunter2@127.0.0.1/health", headers: {Authorization: "Bearer hunter2", X-Site: shop}}
deploy: [pull, up, {verify: [db, web]}]
backup: {database: "postgresql://x:hunter2@db/x", dir: /b}
notify: [{webhook: "${RG_TEST_HOOK}", on: [unrecovered]}]
YAML
out=$(cd "$tmp" && RG_TEST_HOOK=https://hooks.example.com/T0/B0/hunter2 "$bin" plan secret.yml 2>&1;
      cd "$tmp" && RG_TEST_HOOK=https://hooks.example.com/T0/B0/hunter2 "$bin" plan --json secret.yml 2>&1)
if grep -q hunter2 <<<"$out"; then
    echo "FAIL redaction: a secret reached the output"; grep hunter2 <<<"$out" | sed 's/^/    /'
    fail=$((fail + 1))
elif ! grep -qF "password=***" <<<"$out" || ! grep -qF "https://hooks.example.com/***" <<<"$out"; then
    echo "FAIL redaction: redacted forms missing"; fail=$((fail + 1))
else
    echo "ok   redaction"; pass=$((pass + 1))
fi

# validate in a pull request: no production secrets there. Without --no-env an unset ${VAR}
# is an error; with it a placeholder (a string keeps ${VAR}, a number or duration its default).
cat > "$tmp/secrets.yml" <<'YAML'
version: 1
name: shop
runtime: {driver: compose, project_dir: /srv/shop, tag_var: TAG, services: [app]}
release: {image: reg/shop, tag_pattern: '^v[0-9]+$'}
defaults: {every: "${RG_TEST_UNSET_EVERY}", within: 10s}
gates:
  db: {postgres: "host=db user=shop password=${RG_TEST_UNSET_PW} dbname=shop", max_connections_used: "${RG_TEST_UNSET_LIMIT}"}
deploy: [pull, up, {verify: [db]}]
notify: [{webhook: "${RG_TEST_UNSET_HOOK}", on: [unrecovered]}]
YAML
expect validate_env_unset 65 "secrets.yml:7:18: gates.db.postgres: environment variable 'RG_TEST_UNSET_PW' is not set (set it, or write \${RG_TEST_UNSET_PW:-default})" -- validate secrets.yml
expect validate_no_env 0 "secrets.yml: ok (target 'shop', compose driver, 1 gate, 3 deploy steps, 0 recover rungs)" -- validate --no-env secrets.yml
expect validate_no_env_still_checks 65 "four.yml:8:20: gates.ready.command: expected an argv array" -- validate --no-env four.yml
if out=$(cd "$tmp" && "$bin" validate --json secrets.yml demo.yml); [ $? = 65 ] &&
   python3 - "$out" <<'PY'
import json, sys
doc = json.loads(sys.argv[1])
assert [d["file"] for d in doc] == ["secrets.yml", "demo.yml"], doc
assert doc[0]["ok"] is False and doc[1]["ok"] is True and doc[1]["target"] == "demo"
p = doc[0]["problems"][0]
assert (p["line"], p["column"], p["path"]) == (5, 19, "defaults.every"), p
assert p["message"].startswith("environment variable 'RG_TEST_UNSET_EVERY' is not set"), p
PY
then echo "ok   validate_json"; pass=$((pass + 1)); else echo "FAIL validate_json"; echo "$out" | head -30; fail=$((fail + 1)); fi

# A password written into the playbook: valid, but warned (never repeated).
cat > "$tmp/pw.yml" <<'YAML'
version: 1
name: pw
runtime: {driver: compose, project_dir: /srv/pw, tag_var: TAG, services: [app]}
release: {image: reg/pw, tag_pattern: '^v[0-9]+$'}
gates:
  db: {postgres: "host=db user=x password=hunter2 dbname=x"}
  ok: {postgres: "host=db user=x password=${PW:-} dbname=x"}
deploy: [pull, up, {verify: [db, ok]}]
YAML
expect literal_password_warned 0 "pw.yml:6:18: warning: gates.db.postgres: the connection string holds a literal password: leave it out (libpq reads PGPASSWORD and ~/.pgpass) so that the playbook can be shared and committed" -- validate pw.yml
out=$(cd "$tmp" && "$bin" validate pw.yml 2>&1)
if grep -q hunter2 <<<"$out" || [ "$(grep -c warning <<<"$out")" != 1 ]; then echo "FAIL literal_password_once: $out"; fail=$((fail + 1));
else echo "ok   literal_password_once"; pass=$((pass + 1)); fi

# The environment, not a bug: a state directory whose parent is missing (73) or that the user
# may not create (77), with the path and the fix; reading commands create nothing.
cat > "$tmp/env.yml" <<YAML
version: 1
name: envt
state_dir: $tmp/missing/sub/state
runtime: {driver: compose, project_dir: $tmp/missing/app, tag_var: TAG, services: [app]}
release: {image: reg/x, tag_pattern: '^v[0-9]+\$'}
gates: {h: {http: "http://127.0.0.1:1/"}}
deploy: [pull, up, {verify: [h]}]
YAML
expect status_creates_nothing 0 "release  (none: env file '$tmp/missing/app/.env' does not exist)" -- status env.yml
expect history_creates_nothing 0 "(no deploys of 'envt' yet)" -- history env.yml
expect backups_creates_nothing 0 "no backups of 'envt' yet" -- backups env.yml
if [ -e "$tmp/missing" ]; then echo "FAIL read_only_commands_created: $(find "$tmp/missing")"; fail=$((fail + 1));
else echo "ok   read_only_commands_create_nothing"; pass=$((pass + 1)); fi
expect state_parent_missing 73 "rollgate: deploy: cannot create state directory '$tmp/missing/sub/state': its parent '$tmp/missing/sub' does not exist: create it (mkdir -p '$tmp/missing/sub') or point state_dir elsewhere" -- deploy env.yml --tag v1
mkdir -p "$tmp/locked" && chmod 755 "$tmp" "$tmp/locked" && chmod 644 "$tmp/env.yml"
sed -i "s|$tmp/missing/sub/state|$tmp/locked/state|" "$tmp/env.yml"
# A copy the user nobody may run (a fresh clone's directory may be private to root).
cp "$bin" "$tmp/rollgate-as-nobody" && chmod 755 "$tmp/rollgate-as-nobody"
out=$(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/rollgate-as-nobody" deploy "$tmp/env.yml" --tag v1 2>&1)
rc=$?
if [ "$rc" = 77 ] && grep -qF "rollgate: deploy: cannot create state directory '$tmp/locked/state': Permission denied: run rollgate as a user who may write '$tmp/locked', or point state_dir at a directory that user owns" <<<"$out"; then
    echo "ok   state_no_permission"; pass=$((pass + 1))
else
    echo "FAIL state_no_permission: exit $rc"; echo "$out" | sed 's/^/    /'; fail=$((fail + 1))
fi

# init: a first playbook from a compose file, never over an existing one, always valid.
mkdir -p "$tmp/odoo-stack" && cp "$src/tests/fixtures/odoo/docker-compose.yml" "$tmp/odoo-stack/"
mkdir -p "$tmp/no-nginx"
expect init_odoo 0 "wrote odoo-init.yml: target 'odoo-stack', services web, the release in ODOO_TAG of $tmp/odoo-stack/.env, 5 gates, backups before each deploy" -- init -o odoo-init.yml --nginx-dir no-nginx odoo-stack
expect init_odoo_validates 0 "odoo-init.yml: ok (target 'odoo-stack', compose driver, 5 gates, 4 deploy steps, 2 recover rungs)" -- validate --no-env odoo-init.yml
if grep -q 'odoo-secret' "$tmp/odoo-init.yml"; then echo "FAIL init_no_password: the compose file's password was copied"; fail=$((fail + 1));
else echo "ok   init_no_password"; pass=$((pass + 1)); fi
for want in 'web_http: {http: "http://127.0.0.1:8069/web/health", expect: [200]}' \
    'web_live: {websocket: "ws://127.0.0.1:8072/websocket"}' 'db: {postgres: "host=127.0.0.1 port=5432 dbname=postgres user=odoo"' '  - restore: before_deploy'; do
    if grep -qF -- "$want" "$tmp/odoo-init.yml"; then echo "ok   init_odoo_has: $want"; pass=$((pass + 1));
    else echo "FAIL init_odoo_has: $want"; fail=$((fail + 1)); fi
done
expect init_todo 0 "nginx runs as service 'nginx': with \`strategy: switch\`" -- init -o odoo-init2.yml --nginx-dir no-nginx odoo-stack
expect init_never_overwrites 65 "rollgate: init: 'odoo-init.yml' exists: init never overwrites a playbook (choose another with --output)" -- init -o odoo-init.yml odoo-stack
# Host nginx proxying to the stack's ports: the switch strategy's proxy section, commented out;
# uncommented, it validates.
expect init_host_nginx 0 "host nginx proxies to the stack ($src/tests/fixtures/odoo/nginx/conf.d/odoo.conf)" -- init -o odoo-ngx.yml --nginx-dir "$src/tests/fixtures/odoo/nginx" odoo-stack
if grep -qF '#     odoochat: {service: web, port: 8072}' "$tmp/odoo-ngx.yml"; then echo "ok   init_proxy_upstreams"; pass=$((pass + 1));
else echo "FAIL init_proxy_upstreams"; cat "$tmp/odoo-ngx.yml"; fail=$((fail + 1)); fi
sed -i 's/^# strategy/strategy/; s/^# proxy:/proxy:/; s/^#   /  /; s/^#     /    /' "$tmp/odoo-ngx.yml"
expect init_proxy_validates 0 "odoo-ngx.yml: ok" -- validate --no-env odoo-ngx.yml
# Compose files as people write them: variables in the registry, the bind address, a whole
# image; a digest; udp beside tcp; IPv6; a top-level name and a file named by --compose.
mkdir -p "$tmp/odd"
cat > "$tmp/odd/prod.yml" <<'YAML'
name: shop-prod
services:
  web:
    image: ${REGISTRY:-localhost:5000}/acme/web:${APP_TAG:-v1}
    ports: ["${BIND}:9001:9001", "443:443", "443:443/udp", "[::1]:8080:80"]
  worker:
    image: ${REGISTRY:-localhost:5000}/acme/web:${APP_TAG:-v1}
  redis:
    image: redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  other:
    image: ${OTHER_IMAGE}
YAML
expect init_odd 0 "wrote odd.yml: target 'odd', services web, worker" -- init --compose odd/prod.yml -o odd.yml --nginx-dir no-nginx odd
expect init_odd_validates 0 "odd.yml: ok" -- validate odd.yml
for want in "  compose_file: $tmp/odd/prod.yml" '  project_name: shop-prod' '  tag_var: APP_TAG' \
    'web_http: {http: "https://127.0.0.1:443/", expect: [200], tls_verify: false}' 'web_port_8080: {tcp: "[::1]:8080"}'; do
    if grep -qF -- "$want" "$tmp/odd.yml"; then echo "ok   init_odd_has: $want"; pass=$((pass + 1));
    else echo "FAIL init_odd_has: $want"; cat "$tmp/odd.yml"; fail=$((fail + 1)); fi
done
if grep -qE 'BIND|redis|OTHER_IMAGE' "$tmp/odd.yml"; then echo "FAIL init_odd_leaves_out"; fail=$((fail + 1));
else echo "ok   init_odd_leaves_out"; pass=$((pass + 1)); fi
expect init_bad_name 64 "rollgate: init: invalid name 'my app' (1-64 letters, digits, '.', '-' or '_')" -- init --name 'my app' -o x2.yml odd
# --no-env keeps a default's meaning: a bad default is still an error.
printf 'version: 1\nname: d\nruntime: {driver: compose, project_dir: /srv/d, tag_var: T, services: [a]}\nrelease: {image: r/d, tag_pattern: x}\ndefaults: {every: "${RG_TEST_UNSET_X:-bogus}"}\ngates: {h: {http: "http://h/"}}\ndeploy: [pull, up, {verify: [h]}]\n' >"$tmp/dflt.yml"
expect no_env_keeps_defaults 65 "dflt.yml:5:19: defaults.every:" -- validate --no-env dflt.yml
mkdir -p "$tmp/empty-dir"
expect init_no_compose 65 "rollgate: init: no compose file in '$tmp/empty-dir' (compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml): name it with --compose" -- init empty-dir
printf 'services:\n  db:\n    image: postgres:15\n' >"$tmp/empty-dir/compose.yaml"
expect init_no_app 65 "runs an application image" -- init -o x.yml empty-dir

# docs/commands.md is checked against the binary's own help: every command's usage line as
# `help` prints it, and every option.
doc="$src/docs/commands.md"
for c in $("$bin" help | awk '/^  [a-z]/ {print $1}'); do
    usage=$("$bin" help "$c" | head -n 1 | sed 's/^usage: //')
    missing=""
    grep -qF -- "$usage" "$doc" || missing="the usage line '$usage'"
    for o in $("$bin" help "$c" | grep -oE '^ +(-[a-z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+'); do
        grep -qF -- "$o" "$doc" || missing="$missing option $o"
    done
    if [ -z "$missing" ]; then echo "ok   docs_match_help_$c"; pass=$((pass + 1));
    else echo "FAIL docs_match_help_$c: docs/commands.md lacks $missing"; fail=$((fail + 1)); fi
done
# One name, one meaning: what another command calls its option is answered with this one's.
expect rollback_tag 64 "rollgate: rollback: unknown option '--tag': rollback takes --to TAG (--tag is deploy's)" -- rollback --tag v1 odoo.yml
expect rollback_t 64 "rollgate: rollback: unknown option '-t': rollback takes --to TAG (-t is deploy's --tag)" -- rollback -t v1 odoo.yml
expect check_wait_renamed 64 "rollgate: check: unknown option '--wait': it is --poll now (--wait is how long deploy, rollback and resume wait for the lock)" -- check --wait odoo.yml
expect completion_bash 0 "complete -F _rollgate rollgate" -- completion bash
expect completion_zsh 0 "#compdef rollgate" -- completion zsh
expect completion_unknown 64 "rollgate: completion: no completion for shell 'fish' (bash or zsh)" -- completion fish
expect man_page 0 ".SS \"rollgate validate [\\-\\-no\\-env] [\\-\\-json] PLAYBOOK...\"" -- help --man
expect version_details 0 "libraries: libcurl" -- --version

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
