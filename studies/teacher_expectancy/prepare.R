# Builds teacher_expectancy.csv from R metafor's dat.raudenbush1985 (Raudenbush 1984; 1985).
# Run from this folder: Rscript prepare.R   (needs r-cran-metafor; sitefx itself never runs R)
library(metafor)
d <- dat.raudenbush1985
out <- data.frame(
  study = sprintf("%02d %s %d", as.integer(d$study), d$author, d$year),
  weeks = d$weeks,
  setting = d$setting,
  tester = d$tester,
  n_treated = d$n1i,
  n_control = d$n2i,
  n = d$n1i + d$n2i,
  d = d$yi,
  se = round(sqrt(d$vi), 6)
)
write.csv(out, "teacher_expectancy.csv", row.names = FALSE)
cat("metafor", as.character(packageVersion("metafor")), "rows", nrow(out), "\n")
