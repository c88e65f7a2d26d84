# Builds school_calendar.csv from R metafor's dat.konstantopoulos2011 (Konstantopoulos 2011).
# Run from this folder: Rscript prepare.R   (needs r-cran-metafor; sitefx itself never runs R)
# `se` is sqrt(vi) unrounded, so se^2 reproduces metafor's vi (references fit rma.mv on vi).
library(metafor)
d <- dat.konstantopoulos2011
stopifnot(!anyDuplicated(d$study), identical(sort(d$study), seq_len(nrow(d))))
out <- data.frame(
  district = as.character(d$district),
  school = d$school,
  study = d$study,
  year = d$year,
  yi = as.numeric(d$yi),
  vi = d$vi,
  se = sqrt(d$vi)
)
write.csv(out, "school_calendar.csv", row.names = FALSE)
cat("metafor", as.character(packageVersion("metafor")), "rows", nrow(out),
    "districts", length(unique(out$district)), "\n")
