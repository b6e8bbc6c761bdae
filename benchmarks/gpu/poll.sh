#!/usr/bin/env bash
# One polling call of a device session (docs/benchmarks.md, "Commands"): wait, print the newest result lines, and
# copy every result folder so far to the call's $OUT. The device tool gives an idle machine back 30 s after a call
# ends, and with it everything on its disk (run V lost its result folders that way), so each poll brings back all
# there is, and the next poll should follow at once.
#
#   bash benchmarks/gpu/poll.sh SECONDS WORK [OUTDIR...]     # WORK: run.sh's work folder; OUTDIRs: result folders
set -uo pipefail
seconds=$1; work=$2; shift 2
sleep "$seconds"
tail -n 2 "$work/build.log" "$work/files.log" "$work/quantize.log" 2> /dev/null | cut -c1-200
grep -h "alpha=" "$work/bench.log" 2> /dev/null | tail -n 12 | cut -c1-260
[ $# -gt 0 ] || exit 0
# logs beside the folders: the bench log holds every printed result line
tar czf "${OUT:-/tmp}/results.tgz" --ignore-failed-read "$work"/*.log "$@" 2> /dev/null
ls -la "${OUT:-/tmp}/results.tgz"
