# Time lme4::lmer on simulated individual records (sitefx benchmark S3).
# Usage: Rscript lmer_records.R records.csv
# The CSV has columns y, t, site and x1..xP; it is read with data.table::fread when installed
# (else read.csv). Prints one line "RESULT {json}" with the elapsed seconds of the lmer() call,
# of loading the packages and of reading the CSV, and the REML estimates of mu and tau.
load_seconds <- system.time(suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
}))[["elapsed"]]
path <- commandArgs(trailingOnly = TRUE)[1]
reader <- if (requireNamespace("data.table", quietly = TRUE)) "data.table::fread" else "read.csv"
read_seconds <- system.time(records <- if (reader == "read.csv") {
  read.csv(path)
} else {
  as.data.frame(data.table::fread(path))
})[["elapsed"]]
records$site <- factor(records$site)
covariates <- grep("^x[0-9]+$", names(records), value = TRUE)
formula <- reformulate(c("t", covariates, "(1 + t | site)"), response = "y")

elapsed <- system.time(model <- lmer(formula, data = records, REML = TRUE))[["elapsed"]]

components <- as.data.frame(VarCorr(model))
tau <- components$sdcor[components$grp == "site" & components$var1 == "t" & is.na(components$var2)]
messages <- model@optinfo$conv$lme4$messages
cat("RESULT", toJSON(list(
  seconds = elapsed,
  load_seconds = load_seconds,
  read_seconds = read_seconds,
  reader = reader,
  mu = unname(fixef(model)["t"]),
  tau = tau,
  singular = isSingular(model),
  convergence_messages = if (is.null(messages)) character(0) else messages,
  lme4 = as.character(packageVersion("lme4")),
  R = R.version.string
), auto_unbox = TRUE, digits = NA), "\n")
