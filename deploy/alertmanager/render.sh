#!/bin/sh
# Render deploy/alertmanager/alertmanager.yml (a template) with the environment, then run Alertmanager
# on the result (docker-compose.yml: the container's entrypoint), or only render it (`render.sh IN OUT`,
# as tests/ops/ do). POSIX sh and awk only: the Alertmanager image is busybox.
#
# Every ${NAME} outside a comment of the template must be set (ALERT_SMTP_USERNAME/PASSWORD may be empty): a missing
# one stops here with its name rather than an Alertmanager that pages nobody. Values go inside YAML
# double quotes: they may not contain a double quote or a backslash.
set -eu
template=${1:-/etc/alertmanager/alertmanager.yml}
out=${2:-/tmp/alertmanager.yml}

awk '
  /^[[:space:]]*#/ { print; next }
  {
    line = $0
    rendered = ""
    while (match(line, /\$\{[A-Z_][A-Z0-9_]*\}/)) {
      name = substr(line, RSTART + 2, RLENGTH - 3)
      if (!(name in ENVIRON)) { print "render.sh: " name " is not set" > "/dev/stderr"; failed = 1 }
      value = ENVIRON[name]
      if (value ~ /["\\]/) { print "render.sh: " name " may not contain \" or \\" > "/dev/stderr"; failed = 1 }
      rendered = rendered substr(line, 1, RSTART - 1) value
      line = substr(line, RSTART + RLENGTH)
    }
    print rendered line
  }
  END { if (failed) exit 1 }
' "$template" > "$out"

if [ "$#" -ge 2 ]; then
  exit 0
fi
exec /bin/alertmanager --config.file="$out" --storage.path=/alertmanager --web.listen-address=:9093
