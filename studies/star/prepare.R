# Builds star.csv.gz from the Tennessee STAR data shipped by the R package mlmRev (`star`).
# Run from this folder: Rscript prepare.R   (needs r-cran-mlmrev; sitefx itself never runs R)
# Choices (documented in README.md): kindergarten only; small classes (treatment) versus
# regular classes without an aide (control), regular+aide classes left out; outcome = reading
# plus math scaled score; rows with missing scores or covariates kept (sitefx drops and
# reports them because study.toml sets drop_missing = true).
library(mlmRev)
k <- star[star$gr == "K" & star$cltype %in% c("small", "reg"), ]
out <- data.frame(
  student = as.character(k$id),
  school = as.character(k$sch),
  classroom = as.character(k$tch),
  class_type = ifelse(k$cltype == "small", "small", "regular"),
  small = as.integer(k$cltype == "small"),
  read = k$read,
  math = k$math,
  score = k$read + k$math,
  female = as.integer(k$sx == "F"),
  minority = ifelse(is.na(k$eth), NA, as.integer(k$eth != "W")),
  free_lunch = ifelse(is.na(k$ses), NA, as.integer(k$ses == "F")),
  teacher_experience = k$exp
)
out <- out[order(as.integer(out$school), out$classroom, out$student), ]
con <- gzfile("star.csv.gz", "w")
write.csv(out, con, row.names = FALSE, na = "")
close(con)
cat("mlmRev", as.character(packageVersion("mlmRev")), "rows", nrow(out), "\n")
