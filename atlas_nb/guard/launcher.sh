# atlas_nb pod guard launcher (POSIX sh): sh -c "$(cat launcher.sh)" atlas-guard [cmd ...]
# With python3: unpacks $ATLAS_GUARD_AGENT (zlib+base64 of agent.py) and runs it around cmd.
# Without python3: runs cmd and enforces only the deadline and the $ cap (no idle lease).
e() { eval "v=\${$1:-}"; [ -n "$v" ] || v=$(tr '\0' '\n' <"${ATLAS_GUARD_PROC1_ENVIRON:-/proc/1/environ}" 2>/dev/null | sed -n "s/^$1=//p" | head -n 1); printf %s "$v"; }
D="${ATLAS_GUARD_DIR:-/tmp/atlas_guard}"; mkdir -p "$D" 2>/dev/null
if command -v python3 >/dev/null 2>&1; then
  ATLAS_GUARD_AGENT=$(e ATLAS_GUARD_AGENT) python3 -c 'import base64,os,sys,zlib;open(sys.argv[1],"wb").write(zlib.decompress(base64.b64decode(os.environ["ATLAS_GUARD_AGENT"])))' "$D/agent.py" && exec python3 "$D/agent.py" -- "$@"
  echo "atlas_nb guard: could not unpack the agent; falling back to the sh guard" >&2
fi
req() { # METHOD URL KEY [BODY]: curl, else GNU wget
  if command -v curl >/dev/null 2>&1; then curl -fsS -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' ${4:+-d "$4"} "$2" >/dev/null
  else wget -q -O /dev/null --method="$1" --header="Authorization: Bearer $3" --header='Content-Type: application/json' ${4:+--body-data="$4"} "$2"; fi
}
end_pod() {
  case "$(e ATLAS_GUARD_PROVIDER)" in
    fly) return 0 ;;
    vast) u="$(e ATLAS_GUARD_VAST_API)"; u="${u:-https://console.vast.ai}/api/v0/instances/$(e CONTAINER_ID)/"
      req DELETE "$u" "$(e CONTAINER_API_KEY)" && return 0
      req PUT "$u" "$(e CONTAINER_API_KEY)" '{"state":"stopped"}' || return 1
      echo "atlas_nb guard: destroy refused; stopped" >&2 ;;
    *) command -v runpodctl >/dev/null 2>&1 && runpodctl remove pod "$(e RUNPOD_POD_ID)" && return 0
      u="$(e ATLAS_GUARD_RUNPOD_API)"; req DELETE "${u:-https://api.runpod.io}/v2/pods/$(e RUNPOD_POD_ID)" "$(e RUNPOD_API_KEY)" ;;
  esac
}
S="$(e ATLAS_GUARD_STATE)"; S="${S:-/var/tmp/atlas_guard.json}.created"
[ -s "$S" ] || date +%s >"$S"
END=$(awk -v c="$(cat "$S" 2>/dev/null || date +%s)" -v d="$(e ATLAS_GUARD_DEADLINE_S)" -v u="$(e ATLAS_GUARD_CAP_USD)" -v p="$(e ATLAS_GUARD_PRICE_HR)" \
  'BEGIN { e = 0; if (d > 0) e = c + d; if (u > 0 && p > 0) { x = c + u / p * 3600; if (e == 0 || x < e) e = x }; printf "%d", e }')
[ "$#" -gt 0 ] && { "$@" & }
if [ "$END" = 0 ]; then echo "atlas_nb guard: no python3, deadline or cap: nothing to enforce" >&2; wait; exit; fi
echo "atlas_nb guard (sh): ending the pod at $END (deadline/cap only; no idle lease without python3)" >&2
while [ "$(date +%s)" -lt "$END" ]; do sleep 1; done
n=1; until end_pod; do sleep "$n"; n=$((n * 2)); [ "$n" -gt 60 ] && n=60; done
echo "atlas_nb guard: ended (deadline or cap)" >&2
[ "$#" -gt 0 ] && kill "$!" 2>/dev/null
exit 0
