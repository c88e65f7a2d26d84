# Time lme4::lmer on simulated individual records (sitefx benchmark S3).
# Usage: Rscript lmer_records.R records.csv
# The CSV has columns y, t, site and x1..xP. Only the lmer() call is timed. Prints one line
# "RESULT {json}" with the elapsed seconds and the REML estimates of mu and tau.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
path <- commandArgs(trailingOnly = TRUE)[1]
records <- read.csv(path)
records$site <- factor(records$site)
covariates <- grep("^x[0-9]+$", names(records), value = TRUE)
formula <- reformulate(c("t", covariates, "(1 + t | site)"), response = "y")

elapsed <- system.time(model <- lmer(formula, data = records, REML = TRUE))[["elapsed"]]

components <- as.data.frame(VarCorr(model))
tau <- components$sdcor[components$grp == "site" & components$var1 == "t" & is.na(components$var2)]
messages <- model@optinfo$conv$lme4$messages
cat("RESULT", toJSON(list(
  seconds = elapsed,
  mu = unname(fixef(model)["t"]),
  tau = tau,
  singular = isSingular(model),
  convergence_messages = if (is.null(messages)) character(0) else messages,
  lme4 = as.character(packageVersion("lme4")),
  R = R.version.string
), auto_unbox = TRUE, digits = NA), "\n")
