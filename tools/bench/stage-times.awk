# Parses `confine profiles -d` stderr: lines "[UNIT] STAGE: STATUS (N ms|N.N s)[ — detail]".
# Modes (-v mode=...):
#   sums  (default) per stage: count done/reused/failed and the summed seconds
#   table           seconds per stage per image (one row per image; "r" marks reused)
# Shared by the bench scripts; not executable on its own.
function secs(t,   v) {
  if (t ~ / ms$/) { sub(/ ms$/, "", t); return t / 1000 }
  if (t ~ / s$/) { sub(/ s$/, "", t); return t + 0 }
  return 0
}
match($0, /^\[[^]]+\] [a-z-]+: (done|reused|failed)( \([0-9.]+ m?s\))?/) {
  line = substr($0, RSTART, RLENGTH)
  unit = substr(line, 2, index(line, "]") - 2)
  rest = substr(line, index(line, "]") + 2)
  stage = substr(rest, 1, index(rest, ":") - 1)
  rest = substr(rest, index(rest, ":") + 2)
  status = rest; sub(/ .*/, "", status)
  t = ""; if (index(rest, "(")) { t = substr(rest, index(rest, "(") + 1); sub(/\)$/, "", t) }
  s = secs(t)
  if (!(stage in seen)) { seen[stage] = 1; order[++ns] = stage }
  if (!(unit in useen)) { useen[unit] = 1; units[++nu] = unit }
  n[stage, status]++; sum[stage] += s; cell[unit, stage] = s; st[unit, stage] = status
}
END {
  if (mode == "table") {
    printf "%-22s", "image"; for (i = 1; i <= ns; i++) printf " %16s", order[i]; printf " %10s\n", "outside-tr"
    for (u = 1; u <= nu; u++) {
      un = units[u]; if (un == "*") continue
      printf "%-22s", un; out = 0
      for (i = 1; i <= ns; i++) {
        k = un SUBSEP order[i]
        if (k in cell) { printf " %15.2f%s", cell[k], (st[k] == "reused" ? "r" : (st[k] == "failed" ? "F" : " ")); if (order[i] != "run-and-trace") out += cell[k] }
        else printf " %16s", "-"
      }
      printf " %10.2f\n", out
    }
  } else {
    printf "%-18s %6s %6s %6s %10s\n", "stage", "done", "reused", "failed", "sum_s"
    for (i = 1; i <= ns; i++) { s = order[i]; printf "%-18s %6d %6d %6d %10.2f\n", s, n[s, "done"], n[s, "reused"], n[s, "failed"], sum[s] }
  }
}
