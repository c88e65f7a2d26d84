# Regenerates the R reference numbers that sitefx's tests compare against.
# Run from the repository root:  Rscript tests/reference/make_references.R [lme4|brms|metafor ...]
# Needs Debian's r-cran-lme4, r-cran-brms (+ r-cran-bh with its include link), r-cran-metafor,
# r-cran-jsonlite. R is a tool for making these numbers, never a dependency of sitefx or its tests.
suppressPackageStartupMessages({ library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
if (length(args) == 0) args <- c("lme4", "brms", "metafor")
out_dir <- "tests/reference"

provenance <- function(pkg, call, extra = list()) {
  c(list(package = pkg, version = as.character(packageVersion(pkg)),
         R = R.version.string, call = call, date = format(Sys.Date())), extra)
}
write_ref <- function(x, name) {
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out_dir, name))
  cat("wrote", name, "\n")
}

# STAR kindergarten, prepared exactly as studies/star/study.toml asks, independently of sitefx:
# complete cases on score and covariates, then drop schools with < 2 students in an arm.
star <- read.csv("studies/star/star.csv.gz", colClasses = c(school = "character"))
star <- star[complete.cases(star[, c("score", "small", "female", "minority", "free_lunch")]), ]
arm <- table(star$school, star$small)
keep <- rownames(arm)[arm[, "0"] >= 2 & arm[, "1"] >= 2]
star <- star[star$school %in% keep, ]
for (v in c("female", "minority", "free_lunch")) star[[paste0(v, "_c")]] <- star[[v]] - mean(star[[v]])
data_note <- list(rows = nrow(star), schools = length(unique(star$school)))

if ("lme4" %in% args) {
  suppressPackageStartupMessages(library(lme4))
  call <- "lmer(score ~ small + female_c + minority_c + free_lunch_c + (1 + small | school), data = star, REML = TRUE)"
  m <- eval(parse(text = call))
  vc <- as.data.frame(VarCorr(m))
  fe <- fixef(m); fse <- sqrt(diag(vcov(m)))
  write_ref(list(
    provenance = provenance("lme4", call, list(data = data_note)),
    fixef = as.list(fe), fixef_se = as.list(fse),
    alpha_sd = vc$sdcor[which(vc$grp == "school" & vc$var1 == "(Intercept)" & is.na(vc$var2))],
    tau = vc$sdcor[which(vc$grp == "school" & vc$var1 == "small" & is.na(vc$var2))],
    rho = vc$sdcor[!is.na(vc$var2)],
    sigma = sigma(m)
  ), "star_lme4.json")
}

if ("brms" %in% args) {
  suppressPackageStartupMessages(library(brms))
  # The priors sitefx uses by default for these data (printed by `sitefx fit studies/star`).
  priors <- c(
    prior(normal(920, 190), class = b, coef = Intercept),
    prior(normal(0, 190), class = b, coef = small),
    prior(normal(0, 400), class = b, coef = female_c),
    prior(normal(0, 400), class = b, coef = minority_c),
    prior(normal(0, 400), class = b, coef = free_lunch_c),
    prior(normal(0, 75), class = sd, group = school, coef = Intercept),
    prior(normal(0, 75), class = sd, group = school, coef = small),
    prior(exponential(0.013), class = sigma),
    prior(lkj(2), class = cor)
  )
  call <- paste("brm(score ~ 0 + Intercept + small + female_c + minority_c + free_lunch_c +",
                "(1 + small | school), data = star, prior = priors, chains = 4, iter = 6000,",
                "warmup = 1000, seed = 20261127, cores = 2)")
  m <- eval(parse(text = call))
  d <- as_draws_df(m)
  pars <- c(mu = "b_small", tau = "sd_school__small", alpha_mean = "b_Intercept",
            alpha_sd = "sd_school__Intercept", rho = "cor_school__Intercept__small",
            sigma = "sigma", `beta[female]` = "b_female_c", `beta[minority]` = "b_minority_c",
            `beta[free_lunch]` = "b_free_lunch_c")
  summ <- posterior::summarise_draws(posterior::subset_draws(posterior::as_draws(m), variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  theta <- coef(m)$school[, , "small"]
  write_ref(list(
    provenance = provenance("brms", call, list(rstan = as.character(packageVersion("rstan")),
                                               priors = as.character(priors$prior), data = data_note)),
    parameters = summ,
    theta = list(school = rownames(theta), mean = unname(theta[, "Estimate"]),
                 sd = unname(theta[, "Est.Error"]))
  ), "star_brms.json")
}

if ("metafor" %in% args) {
  suppressPackageStartupMessages(library(metafor))
  refs <- list()
  for (name in c("eight_schools", "teacher_expectancy")) {
    spec <- list(eight_schools = c("effect", "se"), teacher_expectancy = c("d", "se"))[[name]]
    dat <- read.csv(file.path("studies", name, paste0(name, ".csv")))
    call <- sprintf("rma(yi = %s, sei = %s, data = dat, method = \"REML\")", spec[1], spec[2])
    m <- eval(parse(text = call))
    blup <- blup(m)
    refs[[name]] <- list(provenance = provenance("metafor", call), mu = m$b[1], mu_se = m$se,
                         tau = sqrt(m$tau2), tau2 = m$tau2, blup = blup$pred)
  }
  # Meta-regression on weeks of prior contact, centred so the intercept is the average effect.
  dat <- read.csv("studies/teacher_expectancy/teacher_expectancy.csv")
  dat$weeks_c <- dat$weeks - mean(dat$weeks)
  call <- "rma(yi = d, sei = se, mods = ~ weeks_c, data = dat, method = \"REML\")"
  m <- eval(parse(text = call))
  refs[["teacher_expectancy_weeks"]] <- list(
    provenance = provenance("metafor", call), mu = m$b[1], mu_se = m$se[1], gamma = m$b[2],
    gamma_se = m$se[2], tau = sqrt(m$tau2), r2 = m$R2)
  write_ref(refs, "metafor_rma.json")
}

if ("brms_binary" %in% args) {
  suppressPackageStartupMessages(library(brms))
  # Simulated arm counts (tests/reference/binary_counts.csv, written by tests/test_binary.py's
  # counts(40, seed=4)), fitted as sitefx's binomial_arms model with its default priors:
  # uncorrelated site intercepts (control log-odds) and site log odds ratios.
  wide <- read.csv("tests/reference/binary_counts.csv")
  long <- rbind(
    data.frame(school = wide$school, arm = 1, events = wide$pass_t, n = wide$n_t),
    data.frame(school = wide$school, arm = 0, events = wide$pass_c, n = wide$n_c)
  )
  priors <- c(
    prior(normal(0, 2.5), class = b, coef = Intercept),
    prior(normal(0, 2.5), class = b, coef = arm),
    prior(normal(0, 2.5), class = sd, group = school, coef = Intercept),
    prior(normal(0, 1), class = sd, group = school, coef = arm)
  )
  call <- paste("brm(events | trials(n) ~ 0 + Intercept + arm + (1 + arm || school),",
                "family = binomial(), data = long, prior = priors, chains = 4, iter = 6000,",
                "warmup = 1000, seed = 20261127, cores = 2, control = list(adapt_delta = 0.99))")
  m <- eval(parse(text = call))
  pars <- c(mu = "b_arm", tau = "sd_school__arm", alpha_mean = "b_Intercept",
            alpha_sd = "sd_school__Intercept")
  summ <- posterior::summarise_draws(posterior::subset_draws(posterior::as_draws(m), variable = unname(pars)),
                                     "mean", "sd", "mcse_mean", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  write_ref(list(
    provenance = provenance("brms", call, list(rstan = as.character(packageVersion("rstan")),
                                               priors = as.character(priors$prior))),
    parameters = summ
  ), "binary_brms.json")
}
