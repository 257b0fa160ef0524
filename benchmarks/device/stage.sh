# Sourced by setup.sh: stage(), which bounds one measurement of a device call.
# the seconds a script may use from its start (the wheels' install included): a 600-s call
# with a little left to bring $OUT back
CALL_BUDGET=${CALL_BUDGET:-590}

stage() {  # stage SECONDS|rest NAME COMMAND...: one measurement, bounded so the others still run
    # (rest: what is left of CALL_BUDGET, for the last stage, which then gains the time
    # that the stages before it did not use)
    local limit=$1 name=$2; shift 2
    [ "$limit" = rest ] && limit=$(( CALL_BUDGET - SECONDS ))
    if [ "$limit" -le 0 ]; then echo "!! $name skipped: no time left"; return; fi
    echo "== $name (at most $limit s) =="; local begin=$SECONDS
    timeout "$limit" "$@" || echo "!! $name stopped (exit $?)"
    echo "-- $name: $(( SECONDS - begin )) s"
}
