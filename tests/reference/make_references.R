# Regenerates the R reference numbers that sitefx's tests compare against.
# Run from the repository root:
#   Rscript tests/reference/make_references.R [metafor|brms_binary|three_level|star_classroom|
#     horseshoe|growth|binary_records|student_t|reading_pass|tutoring_growth|selection|design|
#     tutoring_growth_unbalanced tutoring_growth_unbalanced_level_effect
#     tutoring_growth_unbalanced_covariate ...]
# Needs Debian's r-cran-lme4, r-cran-brms (+ r-cran-bh with its include link), r-cran-metafor,
# r-cran-jsonlite, and for `design` PowerUpR 1.1.0 (CRAN source, `R CMD INSTALL`). R is a tool for making these numbers, never a dependency of sitefx or its tests.
suppressPackageStartupMessages({ library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
if (length(args) == 0) args <- "metafor"  # the quick one; name the others to rerun them
out_dir <- "tests/reference"

provenance <- function(pkg, call, extra = list()) {
  c(list(package = pkg, version = as.character(packageVersion(pkg)),
         R = R.version.string, call = call, date = format(Sys.Date())), extra)
}
write_ref <- function(x, name) {
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out_dir, name))
  cat("wrote", name, "\n")
}

# studies/tutoring_growth (seeded simulation, see its README): 30 schools x 40 pupils, tutored
# constant per pupil, every pupil scored at years 0-3. Year centred at 1.5 (the mean wave, as
# sitefx centres it: the waves are balanced) so that year_c is orthogonal to the intercept within
# every pupil. Each pupil's growth is the least-squares slope of score on year,
# sum(year_c * score) / sum(year_c^2), exactly as sitefx's growth_records computes it; checked
# against lm() for the first pupil and against cov(year, score) / var(year) for every pupil.
# Returns the long data (with year_c), one row per pupil (school, pupil, tutored, slope; pupils in
# data order) and a note on the data.
tutoring_growth_data <- function() {
  gr <- read.csv("studies/tutoring_growth/tutoring_growth.csv")
  waves <- tapply(gr$year, gr$pupil, function(y) paste(sort(y), collapse = ","))
  stopifnot(all(waves == "0,1,2,3"), !anyNA(gr$score),
            all(tapply(gr$tutored, gr$pupil, function(v) length(unique(v))) == 1),
            all(tapply(gr$school, gr$pupil, function(v) length(unique(v))) == 1),
            mean(gr$year) == 1.5)
  gr$year_c <- gr$year - 1.5
  note <- list(rows = nrow(gr), pupils = length(unique(gr$pupil)),
               schools = length(unique(gr$school)), years = sort(unique(gr$year)),
               year_c = "year - 1.5", tutored_pupils = sum(tapply(gr$tutored, gr$pupil, max)))
  slope <- sapply(split(gr, gr$pupil), function(p) sum(p$year_c * p$score) / sum(p$year_c^2))
  pupils <- gr[!duplicated(gr$pupil), c("school", "pupil", "tutored")]
  pupils$slope <- unname(slope[pupils$pupil])
  p1 <- gr[gr$pupil == pupils$pupil[1], ]
  by_cov <- sapply(split(gr, gr$pupil), function(p) cov(p$year, p$score) / var(p$year))
  stopifnot(abs(coef(lm(score ~ year, data = p1))[["year"]] - pupils$slope[1]) < 1e-10,
            max(abs(by_cov[pupils$pupil] - pupils$slope)) < 1e-10)
  list(long = gr, pupils = pupils, note = note)
}

# For the brms blocks: sampler problems, and each site's effect b_<effect> + r_<group>[, <effect>]
# per draw, summarised by chain-aware posterior (mean, sd, MCSE of the mean, R-hat, bulk ESS).
# Checked against brms's coef(), which summarises the same sum.
# summarise_parameters(): the summary of `pars` (brms's names, named by sitefx's), as stored;
# site_record(): a site_effects() summary as stored under `theta`.
summarise_parameters <- function(draws, pars) {
  summ <- posterior::summarise_draws(posterior::subset_draws(draws, variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  stopifnot(setequal(summ$variable, pars))
  summ
}
site_record <- function(theta, note) {
  list(note = note, school = theta$variable, mean = theta$mean, sd = theta$sd,
       mcse_mean = theta$mcse_mean, rhat = theta$rhat)
}
sampler_problems <- function(fit, max_treedepth = 10) {  # 10: brms's default max_treedepth
  np <- nuts_params(fit)
  list(divergences = sum(np$Value[np$Parameter == "divergent__"]),
       max_treedepth_hits = sum(np$Value[np$Parameter == "treedepth__"] >= max_treedepth))
}
# The prior statements of brms's Stan code, one string each (comments and line breaks removed).
stan_priors <- function(code) {
  code <- gsub("//[^\n]*", "", code)
  statements <- trimws(gsub("\\s+", " ", strsplit(code, ";", fixed = TRUE)[[1]]))
  grep("^lprior \\+=", statements, value = TRUE)
}
site_effects <- function(fit, group, effect) {
  r <- ranef(fit, summary = FALSE)[[group]]
  lv <- dimnames(r)[[2]]
  draws <- posterior::as_draws_df(fit)[[paste0("b_", effect)]] + r[, lv, effect]
  n_chains <- posterior::nchains(fit)
  array_draws <- posterior::as_draws_array(array(
    draws, c(nrow(draws) / n_chains, n_chains, ncol(draws)), dimnames = list(NULL, NULL, lv)))
  summ <- posterior::summarise_draws(array_draws, "mean", "sd", "mcse_mean", "rhat", "ess_bulk")
  by_coef <- coef(fit)[[group]][lv, , effect]
  stopifnot(max(abs(summ$mean - by_coef[, "Estimate"])) < 1e-10,
            max(abs(summ$sd - by_coef[, "Est.Error"])) < 1e-10)
  summ
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

# The selection-model, PET, PEESE and Egger references of one data set (yi, sei).
selection_references <- function(dat, data_note) {
  steps <- c(0.025, 0.05, 0.5, 1)
  ml <- rma(yi, sei = sei, data = dat, method = "ML")
  sel <- selmodel(ml, type = "stepfun", steps = steps, control = list(optimizer = "nlminb"))
  pet <- rma(yi, sei = sei, mods = ~ sei, data = dat, method = "REML")
  peese <- rma(yi, sei = sei, mods = ~ I(sei^2), data = dat, method = "REML")
  egger <- regtest(rma(yi, sei = sei, data = dat, method = "REML"), model = "rma", predictor = "sei")
  list(
    data = data_note, k = nrow(dat),
    random_effects_ml = list(
      provenance = provenance("metafor", 'rma(yi, sei = sei, data = dat, method = "ML")'),
      mu = ml$b[1], mu_se = ml$se, tau2 = ml$tau2, loglik = as.numeric(logLik(ml))),
    step = list(
      provenance = provenance("metafor",
        'selmodel(rma(yi, sei = sei, data = dat, method = "ML"), type = "stepfun", steps = c(0.025, 0.05, 0.5, 1), control = list(optimizer = "nlminb"))'),
      mu = sel$beta[1], mu_se = sel$se[1], tau2 = sel$tau2, tau2_se = sel$se.tau2,
      delta = sel$delta, delta_se = sel$se.delta, steps = steps,
      k_per_interval = as.vector(sel$ptable$k), loglik = as.numeric(logLik(sel)),
      lrt = sel$LRT, lrt_p = sel$LRTp),
    pet = list(
      provenance = provenance("metafor", 'rma(yi, sei = sei, mods = ~ sei, data = dat, method = "REML")'),
      intercept = pet$b[1], intercept_se = pet$se[1], slope = pet$b[2], slope_se = pet$se[2],
      tau2 = pet$tau2),
    peese = list(
      provenance = provenance("metafor", 'rma(yi, sei = sei, mods = ~ I(sei^2), data = dat, method = "REML")'),
      intercept = peese$b[1], intercept_se = peese$se[1], slope = peese$b[2],
      slope_se = peese$se[2], tau2 = peese$tau2),
    egger = list(
      provenance = provenance("metafor", 'regtest(rma(yi, sei = sei, data = dat, method = "REML"), model = "rma", predictor = "sei")'),
      z = egger$zval, p = egger$pval, limit_estimate = egger$est))
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
                         tau = sqrt(m$tau2), tau2 = m$tau2, I2 = m$I2, blup = blup$pred)
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

if ("three_level" %in% args) {
  suppressPackageStartupMessages({ library(metafor); library(brms) })
  # Modified school calendars (studies/school_calendar): 56 studies nested in 11 districts.
  dat <- read.csv("studies/school_calendar/school_calendar.csv", colClasses = c(district = "character"))
  dat$district <- factor(dat$district)
  data_note <- list(studies = nrow(dat), districts = nlevels(dat$district))
  call <- "rma.mv(yi, vi, random = ~ 1 | district/study, data = dat)"
  m <- eval(parse(text = call))
  stopifnot(identical(unname(m$s.names), c("district", "district/study")))
  reml <- list(provenance = provenance("metafor", call, list(method = m$method, data = data_note)),
               mu = m$b[1], mu_se = m$se,
               sigma2 = setNames(as.list(m$sigma2), unname(m$s.names)),
               tau_district = sqrt(m$sigma2[1]), tau = sqrt(m$sigma2[2]),
               n_levels = setNames(as.list(m$s.nlevels), unname(m$s.names)),
               logLik = as.numeric(logLik(m)))

  # Same priors as sitefx uses for this model: mu ~ N(0, 1), tau and tau_district ~ half-N(0.5).
  priors <- c(
    set_prior("normal(0, 1)", class = "Intercept"),
    set_prior("normal(0, 0.5)", class = "sd", group = "district"),
    set_prior("normal(0, 0.5)", class = "sd", group = "district:study")
  )
  call <- paste("brm(bf(yi | se(se) ~ 1 + (1 | district) + (1 | district:study)), data = dat,",
                "prior = priors, chains = 4, iter = 6000, warmup = 1000, seed = 20261127, cores = 2,",
                "control = list(adapt_delta = 0.99))")
  started <- Sys.time()
  fit <- eval(parse(text = call))
  minutes <- as.numeric(difftime(Sys.time(), started, units = "mins"))
  np <- nuts_params(fit)
  divergent <- sum(np$Value[np$Parameter == "divergent__"])
  treedepth_hits <- sum(np$Value[np$Parameter == "treedepth__"] >= 10)  # brms default max_treedepth
  pars <- c(mu = "b_Intercept", tau = "sd_district:study__Intercept",
            tau_district = "sd_district__Intercept")
  draws <- posterior::as_draws(fit)
  summ <- posterior::summarise_draws(posterior::subset_draws(draws, variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  # Each study's true effect mu + u_district + u_study: the linear predictor without the known
  # sampling error (se() adds none). Checked against the raw draws for the first study.
  theta <- posterior_linpred(fit)
  d <- as_draws_df(fit)
  lv <- paste0(dat$district[1], "_", dat$study[1])
  by_hand <- d$b_Intercept + d[[sprintf("r_district[%s,Intercept]", dat$district[1])]] +
    d[[sprintf("r_district:study[%s,Intercept]", lv)]]
  stopifnot(max(abs(by_hand - theta[, 1])) < 1e-10)
  # Predictive effect of a new study in a new district: mu + N(0, tau_district^2) + N(0, tau^2).
  set.seed(20261127)
  new <- d$b_Intercept + rnorm(nrow(d), 0, d$sd_district__Intercept) +
    rnorm(nrow(d), 0, d$`sd_district:study__Intercept`)
  q <- quantile(new, c(0.025, 0.5, 0.975))
  write_ref(list(
    reml = reml,
    brms = list(
      provenance = provenance("brms", call, list(
        rstan = as.character(packageVersion("rstan")), priors = as.character(priors$prior),
        prior_groups = priors$group, data = data_note, minutes = round(minutes, 2),
        divergences = divergent, max_treedepth_hits = treedepth_hits)),
      parameters = summ,
      theta = list(study = as.character(dat$study), district = as.character(dat$district),
                   mean = unname(colMeans(theta)), sd = unname(apply(theta, 2, sd))),
      theta_new_new_district = list(
        note = "mu + N(0, tau_district^2) + N(0, tau^2) per posterior draw, set.seed(20261127)",
        mean = mean(new), sd = sd(new), `2.5%` = q[[1]], `50%` = q[[2]], `97.5%` = q[[3]])
    )
  ), "school_calendar.json")
}

if ("star_classroom" %in% args) {
  # STAR with classroom random intercepts: classes, not students, were assigned to arms within
  # school, so classrooms are clusters nested in schools. Classroom (teacher) ids do not repeat
  # across schools in these data, but the grouping is written school:classroom regardless.
  suppressPackageStartupMessages({ library(lme4); library(brms) })
  n_rep <- sum(tapply(star$school, star$classroom, function(s) length(unique(s))) > 1)
  data_note_cl <- c(data_note, list(classrooms = length(unique(paste(star$school, star$classroom))),
                                    classroom_ids_repeating_across_schools = n_rep))
  # lme4's default optimizer (nloptwrap's BOBYQA) stops here at a false local optimum (REML
  # log-likelihood 20 units lower: school-intercept SD 0, tau 21). minqa's bobyqa, Nelder_Mead,
  # nlminb and L-BFGS-B (lme4::allFit) all agree on the optimum kept here, which is on the
  # boundary: rho = 1 and tau small. Checked below against Nelder_Mead and the default.
  call <- paste("lmer(score ~ small + female_c + minority_c + free_lunch_c + (1 | school:classroom) +",
                "(1 + small | school), data = star, REML = TRUE,",
                "control = lmerControl(optimizer = \"bobyqa\"))")
  m <- eval(parse(text = call))
  m_nm <- update(m, control = lmerControl(optimizer = "Nelder_Mead"))
  m_default <- update(m, control = lmerControl())
  stopifnot(abs(logLik(m) - logLik(m_nm)) < 1e-3, logLik(m) >= logLik(m_default) - 1e-6)
  optimizer_note <- list(
    reml_loglik = as.numeric(logLik(m)), reml_loglik_nelder_mead = as.numeric(logLik(m_nm)),
    reml_loglik_default_optimizer = as.numeric(logLik(m_default)),
    default_optimizer_fit = list(
      tau = attr(VarCorr(m_default)$school, "stddev")[["small"]],
      alpha_sd = attr(VarCorr(m_default)$school, "stddev")[["(Intercept)"]],
      cluster_sd = attr(VarCorr(m_default)$`school:classroom`, "stddev")[[1]],
      mu = fixef(m_default)[["small"]]))
  vc <- as.data.frame(VarCorr(m))
  fe <- fixef(m); fse <- sqrt(diag(vcov(m)))
  lme4_ref <- list(
    provenance = provenance("lme4", call, list(data = data_note_cl, optimizer_check = optimizer_note)),
    fixef = as.list(fe), fixef_se = as.list(fse),
    alpha_sd = vc$sdcor[which(vc$grp == "school" & vc$var1 == "(Intercept)" & is.na(vc$var2))],
    tau = vc$sdcor[which(vc$grp == "school" & vc$var1 == "small" & is.na(vc$var2))],
    rho = vc$sdcor[which(vc$grp == "school" & !is.na(vc$var2))],
    sigma = sigma(m),
    cluster_sd = vc$sdcor[which(vc$grp == "school:classroom")],
    n_classrooms = unname(lme4::ngrps(m)["school:classroom"]),
    singular = isSingular(m)
  )

  # sitefx's default priors for STAR, plus half-normal(75) on the classroom-intercept SD.
  priors <- c(
    prior(normal(920, 190), class = b, coef = Intercept),
    prior(normal(0, 190), class = b, coef = small),
    prior(normal(0, 400), class = b, coef = female_c),
    prior(normal(0, 400), class = b, coef = minority_c),
    prior(normal(0, 400), class = b, coef = free_lunch_c),
    prior(normal(0, 75), class = sd, group = school, coef = Intercept),
    prior(normal(0, 75), class = sd, group = school, coef = small),
    set_prior("normal(0, 75)", class = "sd", group = "school:classroom"),
    prior(exponential(0.013), class = sigma),
    prior(lkj(2), class = cor)
  )
  # adapt_delta: brms's default 0.8 left 164 divergent transitions (tau is near zero: a funnel),
  # 0.95 left 10, 0.99 none (about 27 minutes on 2 cores). Means agreed across the three runs.
  adapt_delta <- 0.99
  call <- paste("brm(score ~ 0 + Intercept + small + female_c + minority_c + free_lunch_c +",
                "(1 | school:classroom) + (1 + small | school), data = star, prior = priors,",
                "chains = 4, iter = 6000, warmup = 1000, seed = 20261127, cores = 2,",
                "control = list(adapt_delta = 0.99))")
  started <- Sys.time()
  fit <- eval(parse(text = call))
  minutes <- as.numeric(difftime(Sys.time(), started, units = "mins"))
  np <- nuts_params(fit)
  divergent <- sum(np$Value[np$Parameter == "divergent__"])
  treedepth_hits <- sum(np$Value[np$Parameter == "treedepth__"] >= 10)  # brms default max_treedepth
  pars <- c(mu = "b_small", tau = "sd_school__small", alpha_mean = "b_Intercept",
            alpha_sd = "sd_school__Intercept", rho = "cor_school__Intercept__small",
            sigma = "sigma", cluster_sd = "sd_school:classroom__Intercept",
            `beta[female]` = "b_female_c", `beta[minority]` = "b_minority_c",
            `beta[free_lunch]` = "b_free_lunch_c")
  summ <- posterior::summarise_draws(posterior::subset_draws(posterior::as_draws(fit), variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  theta <- coef(fit)$school[, , "small"]
  write_ref(list(
    lme4 = lme4_ref,
    brms = list(
      provenance = provenance("brms", call, list(
        rstan = as.character(packageVersion("rstan")), priors = as.character(priors$prior),
        prior_groups = priors$group, adapt_delta = adapt_delta, data = data_note_cl,
        minutes = round(minutes, 2), divergences = divergent, max_treedepth_hits = treedepth_hits)),
      parameters = summ,
      theta = list(school = rownames(theta), mean = unname(theta[, "Estimate"]),
                   sd = unname(theta[, "Est.Error"]))
    )
  ), "star_classroom.json")
}

if ("horseshoe" %in% args) {
  suppressPackageStartupMessages(library(brms))
  # Simulated records (tests/reference/horseshoe_records.csv, written by horseshoe_records.py):
  # 20 schools x 100 students, x1..x6 centred with SD 1 (ddof 0), only x1 and x2 matter. Fitted as
  # sitefx's model with a regularized horseshoe on x1..x6 only. brms puts a horseshoe on a whole
  # class b, so the non-linear formula keeps the intercept and treat (nlpar a) out of it.
  hs <- read.csv("tests/reference/horseshoe_records.csv", colClasses = c(school = "character"))
  xs <- paste0("x", 1:6)
  stopifnot(max(abs(colMeans(hs[xs]))) < 1e-12,
            max(abs(sapply(hs[xs], function(v) sqrt(mean(v^2))) - 1)) < 1e-12)
  form <- bf(y ~ a + b, a ~ 0 + Intercept + treat + (1 + treat | school),
             b ~ 0 + x1 + x2 + x3 + x4 + x5 + x6, nl = TRUE)
  priors <- c(
    prior(normal(0, 2.5), class = b, nlpar = a, coef = Intercept),
    prior(normal(0, 2.5), class = b, nlpar = a, coef = treat),
    prior(horseshoe(df = 1, scale_global = 0.01, df_global = 1, scale_slab = 1, df_slab = 4,
                    autoscale = FALSE), class = b, nlpar = b),
    prior(normal(0, 1), class = sd, group = school, nlpar = a, coef = Intercept),
    prior(normal(0, 1), class = sd, group = school, nlpar = a, coef = treat),
    prior(exponential(1), class = sigma),
    prior(lkj(2), class = cor)
  )
  # The horseshoe exactly as sitefx has it: lambda_k ~ half-t(1, 0, 1), g ~ half-t(1, 0, 0.01) with
  # no sigma factor (autoscale = TRUE would make the scale hs_scale_global_b * sigma), slab
  # c^2 = scale_slab^2 * hs_slab_b with hs_slab_b ~ inv_gamma(df_slab / 2, df_slab / 2), i.e.
  # c^2 ~ inv_gamma(2, 2 * 1^2), and beta = z * g * lambda~.
  code <- trimws(strsplit(make_stancode(form, data = hs, prior = priors), "\n")[[1]])
  hs_lines <- c(
    "vector[K] lambda_tilde = sqrt(c2 * lambda2 ./ (c2 + tau^2 * lambda2));",
    "return z .* lambda_tilde * tau;",
    "b_b = horseshoe(zb_b, hs_local_b, hs_global_b, hs_scale_slab_b^2 * hs_slab_b);",
    "lprior += student_t_lpdf(hs_global_b | hs_df_global_b, 0, hs_scale_global_b)",
    "lprior += inv_gamma_lpdf(hs_slab_b | 0.5 * hs_df_slab_b, 0.5 * hs_df_slab_b);",
    "target += std_normal_lpdf(zb_b);",
    "target += student_t_lpdf(hs_local_b | hs_df_b, 0, 1)")
  stopifnot(all(hs_lines %in% code), !any(grepl("hs_scale_global_b * sigma", code, fixed = TRUE)))
  sdata <- make_standata(form, data = hs, prior = priors)
  hs_data <- unclass(sdata)[c("hs_df_b", "hs_df_global_b", "hs_df_slab_b", "hs_scale_global_b",
                              "hs_scale_slab_b")]
  stopifnot(isTRUE(all.equal(unname(unlist(hs_data)), c(1, 1, 4, 0.01, 1))))
  # brms drops the horseshoe's internals from the fit unless asked to keep them. A short trial run
  # (2 chains, 300 iterations) hit brms's default max_treedepth of 10 in 65 of 300 draws, hence 12.
  max_treedepth <- as.integer(Sys.getenv("HORSESHOE_MAX_TREEDEPTH", "12"))
  call <- paste0("brm(form, data = hs, prior = priors, chains = 4, iter = 6000, warmup = 1000, ",
                 "seed = 20261127, cores = 2, control = list(adapt_delta = 0.99",
                 if (max_treedepth != 10) sprintf(", max_treedepth = %d", max_treedepth), "), ",
                 "save_pars = save_pars(manual = c(\"zb_b\", \"hs_local_b\", \"hs_global_b\", \"hs_slab_b\")))")
  started <- Sys.time()
  fit <- eval(parse(text = call))
  minutes <- as.numeric(difftime(Sys.time(), started, units = "mins"))
  np <- nuts_params(fit)
  divergent <- sum(np$Value[np$Parameter == "divergent__"])
  treedepth_hits <- sum(np$Value[np$Parameter == "treedepth__"] >= max_treedepth)
  ps <- prior_summary(fit)
  d <- posterior::as_draws_df(fit)
  # Shrinkage factors from the horseshoe's draws: lambda~_k^2 = c^2 lambda_k^2 / (c^2 + g^2 lambda_k^2),
  # kappa_k = 1 / (1 + n / sigma^2 * g^2 * lambda~_k^2). Checked by rebuilding b_b from them.
  lambda <- as.matrix(as.data.frame(d)[, sprintf("hs_local_b[%d]", 1:6)])
  g <- d$hs_global_b
  c2 <- hs_data$hs_scale_slab_b^2 * d$hs_slab_b
  lambda_t2 <- c2 * lambda^2 / (c2 + g^2 * lambda^2)
  rebuilt <- as.matrix(as.data.frame(d)[, sprintf("zb_b[%d]", 1:6)]) * sqrt(lambda_t2) * g
  beta_err <- max(abs(rebuilt - as.matrix(as.data.frame(d)[, paste0("b_b_", xs)])))
  stopifnot(beta_err < 1e-8)
  kappa <- as.data.frame(1 / (1 + nrow(hs) / d$sigma^2 * g^2 * lambda_t2))
  names(kappa) <- sprintf("kappa_beta[%s]", xs)
  kappa$.chain <- d$.chain; kappa$.iteration <- d$.iteration; kappa$.draw <- d$.draw
  pars <- c(mu = "b_a_treat", tau = "sd_school__a_treat", alpha_mean = "b_a_Intercept",
            alpha_sd = "sd_school__a_Intercept", rho = "cor_school__a_Intercept__a_treat",
            sigma = "sigma", setNames(paste0("b_b_", xs), sprintf("beta[%s]", xs)),
            setNames(names(kappa)[1:6], names(kappa)[1:6]))
  draws <- posterior::bind_draws(posterior::subset_draws(d, variable = unname(pars)[1:12]),
                                 posterior::as_draws_df(kappa), along = "variable")
  summ <- posterior::summarise_draws(posterior::subset_draws(draws, variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  write_ref(list(
    provenance = provenance("brms", call, list(
      rstan = as.character(packageVersion("rstan")), formula = paste(deparse(form$formula),
        deparse(form$pforms$a), deparse(form$pforms$b), collapse = "; "),
      priors = as.character(priors$prior),
      prior_targets = paste(priors$class, priors$nlpar, priors$group, priors$coef),
      prior_summary = as.data.frame(ps)[, c("prior", "class", "coef", "group", "nlpar", "lb", "source")],
      adapt_delta = 0.99, max_treedepth = max_treedepth,
      data = list(rows = nrow(hs), schools = length(unique(hs$school)), minutes = round(minutes, 2),
                  divergences = divergent, max_treedepth_hits = treedepth_hits),
      horseshoe_check = list(
        note = paste("brms 2.18.0 horseshoe for nlpar b, checked in make_stancode/make_standata:",
                     "local hs_local_b ~ half-student_t(1, 0, 1); global hs_global_b ~",
                     "half-student_t(1, 0, 0.01) with no sigma factor (autoscale = FALSE);",
                     "c^2 = scale_slab^2 * hs_slab_b, hs_slab_b ~ inv_gamma(0.5 * df_slab, 0.5 * df_slab)",
                     "= inv_gamma(2, 2), so c^2 ~ inv_gamma(2, 2 * 1^2); b_b = zb_b * hs_global_b * lambda~",
                     "with lambda~^2 = c^2 lambda^2 / (c^2 + g^2 lambda^2)."),
        stan_lines = hs_lines, standata = hs_data,
        beta_rebuilt_max_abs_error = beta_err,
        kappa = "1 / (1 + n / sigma^2 * hs_global_b^2 * lambda~_k^2) per draw, n = 2000"))),
    parameters = summ
  ), "horseshoe_brms.json")
}

if ("growth" %in% args) {
  suppressPackageStartupMessages(library(lme4))
  # studies/tutoring_growth: long data, year_c and per-pupil slopes from tutoring_growth_data().
  tg <- tutoring_growth_data()
  gr <- tg$long
  growth_note <- tg$note
  sd_of <- function(vc, grp, v) vc$sdcor[which(vc$grp == grp & vc$var1 == v & is.na(vc$var2))]
  conv_msgs <- function(m) c(m@optinfo$conv$lme4$messages, m@optinfo$warnings)

  # Full growth model on the long data. lme4's default optimizer (nloptwrap BOBYQA) converges with
  # no warnings and the fit is not singular, so the full structure is kept. allFit check: minqa's
  # bobyqa, nlminb, nloptwrap Nelder-Mead/BOBYQA reach the same REML optimum; optimx L-BFGS-B too
  # (with a max|grad| warning); dfoptim nmkb sits 0.2 log-lik units lower and lme4's Nelder_Mead
  # stops 29 units lower (both with degenerate-Hessian warnings). Checked below.
  call_full <- paste("lmer(score ~ year_c * tutored + (1 + year_c | pupil) +",
                     "(1 + year_c + year_c:tutored | school), data = gr, REML = TRUE)")
  m <- eval(parse(text = call_full))
  af <- suppressWarnings(suppressMessages(allFit(m, verbose = FALSE)))
  af_sum <- summary(af)
  ok <- names(af_sum$llik)
  af_tau <- sapply(af[ok], function(f) sd_of(as.data.frame(VarCorr(f)), "school", "year_c:tutored"))
  af_mu <- sapply(af[ok], function(f) fixef(f)[["year_c:tutored"]])
  af_msgs <- lapply(af_sum$msgs, function(x) if (is.null(x)) character(0) else x)
  best <- max(af_sum$llik)
  stopifnot(length(conv_msgs(m)) == 0, !isSingular(m), as.numeric(logLik(m)) > best - 1e-3,
            abs(af_mu[["bobyqa"]] - fixef(m)[["year_c:tutored"]]) < 1e-4,
            abs(af_tau[["bobyqa"]] - sd_of(as.data.frame(VarCorr(m)), "school", "year_c:tutored")) < 1e-3)
  vc <- as.data.frame(VarCorr(m))
  fe <- fixef(m); fse <- sqrt(diag(vcov(m)))
  cor_school <- attr(VarCorr(m)$school, "correlation")
  full <- list(
    mu = fe[["year_c:tutored"]], mu_se = fse[["year_c:tutored"]],
    tau = sd_of(vc, "school", "year_c:tutored"),
    alpha_mean = fe[["year_c"]], alpha_se = fse[["year_c"]], alpha_sd = sd_of(vc, "school", "year_c"),
    rho_alpha_mu = cor_school["year_c", "year_c:tutored"],
    school_intercept_sd = sd_of(vc, "school", "(Intercept)"),
    school_cor = list(`(Intercept),year_c` = cor_school["(Intercept)", "year_c"],
                      `(Intercept),year_c:tutored` = cor_school["(Intercept)", "year_c:tutored"],
                      `year_c,year_c:tutored` = cor_school["year_c", "year_c:tutored"]),
    pupil_intercept_sd = sd_of(vc, "pupil", "(Intercept)"), pupil_slope_sd = sd_of(vc, "pupil", "year_c"),
    pupil_cor = attr(VarCorr(m)$pupil, "correlation")["(Intercept)", "year_c"],
    sigma = sigma(m), fixef = as.list(fe), fixef_se = as.list(fse),
    reml_loglik = as.numeric(logLik(m)), singular = isSingular(m))
  optimizer_note <- list(
    used = "lmer default: nloptwrap (NLOPT_LN_BOBYQA); no convergence warnings, not singular",
    optimizer_message = m@optinfo$message,
    allFit = list(optimizer = ok, reml_loglik = unname(af_sum$llik[ok]), mu = unname(af_mu),
                  tau = unname(af_tau), warnings = unname(af_msgs[ok])))

  # Two-stage: each pupil's least-squares slope over the four years (what sitefx fits, see
  # tutoring_growth_data()), then the site-varying-effect model on the slopes.
  pupils <- tg$pupils
  call_ts <- "lmer(slope ~ tutored + (1 + tutored | school), data = pupils, REML = TRUE)"
  m2 <- eval(parse(text = call_ts))
  stopifnot(length(conv_msgs(m2)) == 0, !isSingular(m2))
  vc2 <- as.data.frame(VarCorr(m2))
  fe2 <- fixef(m2); fse2 <- sqrt(diag(vcov(m2)))
  two_stage <- list(
    mu = fe2[["tutored"]], mu_se = fse2[["tutored"]], tau = sd_of(vc2, "school", "tutored"),
    alpha_mean = fe2[["(Intercept)"]], alpha_se = fse2[["(Intercept)"]],
    alpha_sd = sd_of(vc2, "school", "(Intercept)"),
    rho_alpha_mu = attr(VarCorr(m2)$school, "correlation")["(Intercept)", "tutored"],
    sigma = sigma(m2), reml_loglik = as.numeric(logLik(m2)), singular = isSingular(m2),
    n_pupils = nrow(pupils))

  # Why full and two-stage differ at all: the full model correlates intercepts with slopes (pupil
  # and school), so the pupils' levels inform the growth variances. With intercepts uncorrelated
  # with the slopes the balanced long-data likelihood factorises into an intercept part, the
  # within-pupil residual part and the slope part, and the full model reproduces the two-stage one.
  call_bd <- paste("lmer(score ~ year_c * tutored + (1 | pupil) + (0 + year_c | pupil) + (1 | school) +",
                   "(0 + year_c + year_c:tutored | school), data = gr, REML = TRUE)")
  m3 <- eval(parse(text = call_bd))
  vc3 <- as.data.frame(VarCorr(m3))
  fe3 <- fixef(m3); fse3 <- sqrt(diag(vcov(m3)))
  block_diag <- list(
    mu = fe3[["year_c:tutored"]], mu_se = fse3[["year_c:tutored"]], tau = sd_of(vc3, "school.1", "year_c:tutored"),
    alpha_mean = fe3[["year_c"]], alpha_sd = sd_of(vc3, "school.1", "year_c"),
    pupil_slope_sd = sd_of(vc3, "pupil.1", "year_c"), sigma = sigma(m3),
    implied_two_stage_sigma = sqrt(sd_of(vc3, "pupil.1", "year_c")^2 + sigma(m3)^2 / sum(unique(gr$year_c)^2)),
    singular = isSingular(m3), warnings = conv_msgs(m3))
  stopifnot(abs(block_diag$mu - two_stage$mu) < 1e-6, abs(block_diag$mu_se / two_stage$mu_se - 1) < 1e-3,
            abs(block_diag$tau / two_stage$tau - 1) < 1e-3,
            abs(block_diag$implied_two_stage_sigma / two_stage$sigma - 1) < 1e-3)

  write_ref(list(
    provenance = provenance("lme4", list(full = call_full, two_stage = call_ts, block_diagonal_check = call_bd),
                            list(data = growth_note, optimizer = optimizer_note,
                                 singular = list(full = isSingular(m), two_stage = isSingular(m2),
                                                 block_diagonal_check = isSingular(m3)),
                                 two_stage_slopes = "per-pupil OLS slope of score on year: sum(year_c * score) / sum(year_c^2)")),
    full = full,
    two_stage = two_stage,
    block_diagonal_check = block_diag
  ), "tutoring_growth_lme4.json")
}

if ("binary_records" %in% args) {
  suppressPackageStartupMessages(library(brms))
  # Simulated individual records (tests/reference/binary_records.csv, written by
  # binary_records.py): 20 schools x 100 students, 0/1 outcome `passed`, covariates x1, x2.
  # Fitted as sitefx's Bernoulli-logit records model with its default priors: covariates centred,
  # uncorrelated site intercepts (control log-odds) and site treatment effects (log odds ratios).
  d <- read.csv("tests/reference/binary_records.csv", colClasses = c(school = "character"))
  x_means <- c(x1 = mean(d$x1), x2 = mean(d$x2))
  for (v in names(x_means)) d[[paste0(v, "_c")]] <- d[[v]] - x_means[[v]]
  data_note_br <- list(rows = nrow(d), schools = length(unique(d$school)),
                       covariate_means_subtracted = as.list(x_means))
  priors <- c(
    prior(normal(0, 2.5), class = b, coef = Intercept),
    prior(normal(0, 2.5), class = b, coef = treat),
    prior(normal(0, 2.5), class = b, coef = x1_c),
    prior(normal(0, 2.5), class = b, coef = x2_c),
    prior(normal(0, 2.5), class = sd, group = school, coef = Intercept),
    prior(normal(0, 1), class = sd, group = school, coef = treat)
  )
  call <- paste("brm(passed ~ 0 + Intercept + treat + x1_c + x2_c + (1 + treat || school),",
                "family = bernoulli(), data = d, prior = priors, chains = 4, iter = 6000,",
                "warmup = 1000, seed = 20261127, cores = 2, control = list(adapt_delta = 0.95))")
  started <- Sys.time()
  fit <- eval(parse(text = call))
  minutes <- as.numeric(difftime(Sys.time(), started, units = "mins"))
  np <- nuts_params(fit)
  divergent <- sum(np$Value[np$Parameter == "divergent__"])
  treedepth_hits <- sum(np$Value[np$Parameter == "treedepth__"] >= 10)  # brms default max_treedepth
  ps <- prior_summary(fit)
  pars <- c(mu = "b_treat", tau = "sd_school__treat", alpha_mean = "b_Intercept",
            alpha_sd = "sd_school__Intercept", `beta[x1]` = "b_x1_c", `beta[x2]` = "b_x2_c")
  summ <- posterior::summarise_draws(posterior::subset_draws(posterior::as_draws(fit), variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  # theta_j = b_treat + r_school[j, treat]; coef() summarises exactly that sum per draw.
  # Checked against the raw draws for every school.
  theta <- coef(fit)$school[, , "treat"]
  stopifnot(setequal(rownames(theta), unique(d$school)))
  r_treat <- ranef(fit, summary = FALSE)$school[, rownames(theta), "treat"]
  by_hand <- as_draws_df(fit)$b_treat + r_treat
  stopifnot(max(abs(colMeans(by_hand) - theta[, "Estimate"])) < 1e-10,
            max(abs(apply(by_hand, 2, sd) - theta[, "Est.Error"])) < 1e-10)
  write_ref(list(
    provenance = provenance("brms", call, list(
      rstan = as.character(packageVersion("rstan")), priors = as.character(priors$prior),
      prior_targets = paste(priors$class, priors$group, priors$coef),
      prior_summary = as.data.frame(ps)[, c("prior", "class", "coef", "group", "lb", "source")],
      adapt_delta = 0.95, data = data_note_br, minutes = round(minutes, 2),
      divergences = divergent, max_treedepth_hits = treedepth_hits)),
    parameters = summ,
    theta = list(school = rownames(theta), mean = unname(theta[, "Estimate"]),
                 sd = unname(theta[, "Est.Error"]))
  ), "binary_records_brms.json")
}

if ("student_t" %in% args) {
  suppressPackageStartupMessages(library(brms))
  # Teacher expectancy (studies/teacher_expectancy, 19 study summaries d, se), fitted as sitefx's
  # normal_normal model with Student-t site effects and its default priors for these data:
  # d_j ~ N(theta_j, se_j), theta_j ~ t_nu(mu, tau), mu ~ N(0, 0.9), tau ~ half-N(0.36),
  # nu ~ gamma(2, 0.1) (shape, rate). brms's group-level Student-t is the scale mixture
  # r_j = sqrt(df * udf_j) * sd * z_j with udf_j ~ inv_chi_square(df), i.e. t_df(0, sd).
  # brms bounds df below by 1 by default (gamma(2, 0.1) truncated to nu > 1); sitefx's nu has
  # the untruncated gamma on nu > 0, so the bound is set to 0 (checked in the Stan code below).
  dat <- read.csv("studies/teacher_expectancy/teacher_expectancy.csv")
  stopifnot(nrow(dat) == 19, !anyDuplicated(dat$study))
  form <- bf(d | se(se) ~ 1 + (1 | gr(study, dist = "student")))
  priors <- c(
    prior(normal(0, 0.9), class = Intercept),
    prior(normal(0, 0.36), class = sd),
    prior(gamma(2, 0.1), class = df, group = study, lb = 0)
  )
  code <- trimws(strsplit(make_stancode(form, data = dat, prior = priors), "\n")[[1]])
  t_lines <- c(
    "real<lower=0> df_1;",
    "dfm_1 = sqrt(df_1 * udf_1);",
    "r_1_1 = dfm_1 .* (sd_1[1] * (z_1[1]));",
    "lprior += normal_lpdf(Intercept | 0, 0.9);",
    "lprior += gamma_lpdf(df_1 | 2, 0.1);",
    "lprior += normal_lpdf(sd_1 | 0, 0.36)",
    "target += normal_lpdf(Y | mu, se);",
    "target += inv_chi_square_lpdf(udf_1 | df_1);",
    "target += std_normal_lpdf(z_1[1]);")
  stopifnot(all(t_lines %in% code), !any(grepl("gamma_lccdf", code, fixed = TRUE)))
  # adapt_delta: 0.99 left 1 divergent transition in 20,000 draws, 0.999 none.
  adapt_delta <- 0.999
  call <- paste("brm(bf(d | se(se) ~ 1 + (1 | gr(study, dist = \"student\"))), data = dat,",
                "prior = priors, chains = 4, iter = 6000, warmup = 1000, seed = 20261127, cores = 2,",
                "control = list(adapt_delta = 0.999))")
  started <- Sys.time()
  fit <- eval(parse(text = call))
  minutes <- as.numeric(difftime(Sys.time(), started, units = "mins"))
  np <- nuts_params(fit)
  divergent <- sum(np$Value[np$Parameter == "divergent__"])
  treedepth_hits <- sum(np$Value[np$Parameter == "treedepth__"] >= 10)  # brms default max_treedepth
  ps <- prior_summary(fit)
  pars <- c(mu = "b_Intercept", tau = "sd_study__Intercept", nu = "df_study")
  draws <- posterior::as_draws(fit)
  summ <- posterior::summarise_draws(posterior::subset_draws(draws, variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  stopifnot(setequal(summ$variable, pars))
  # Each study's true effect mu + r_study: the linear predictor without the known sampling error
  # (se() adds none), one observation per study. Checked against the raw draws for every study.
  theta <- posterior_linpred(fit)
  r <- ranef(fit, summary = FALSE)$study[, dat$study, "Intercept"]
  by_hand <- as_draws_df(fit)$b_Intercept + r
  stopifnot(max(abs(by_hand - theta)) < 1e-10)
  theta_draws <- posterior::as_draws_array(array(theta, c(nrow(theta) / 4, 4, ncol(theta)),
                                                 dimnames = list(NULL, NULL, dat$study)))
  theta_summ <- posterior::summarise_draws(theta_draws, "mean", "sd", "mcse_mean", "rhat")
  stopifnot(divergent == 0, all(summ$rhat < 1.01), all(theta_summ$rhat < 1.01))
  write_ref(list(
    provenance = provenance("brms", call, list(
      rstan = as.character(packageVersion("rstan")), formula = deparse(form$formula),
      priors = as.character(priors$prior), prior_targets = paste(priors$class, priors$group),
      prior_summary = as.data.frame(ps)[, c("prior", "class", "coef", "group", "lb", "source")],
      df_lower_bound = "0 (brms's default is 1), so nu ~ gamma(2, 0.1) untruncated as in sitefx",
      stan_lines = t_lines, seed = 20261127, chains = 4, iter = 6000, warmup = 1000,
      adapt_delta = adapt_delta, data = list(studies = nrow(dat)), minutes = round(minutes, 2),
      divergences = divergent, max_treedepth_hits = treedepth_hits)),
    parameters = summ,
    theta = list(study = dat$study, mean = theta_summ$mean, sd = theta_summ$sd,
                 mcse_mean = theta_summ$mcse_mean)
  ), "student_t_brms.json")
}

if ("reading_pass" %in% args) {
  suppressPackageStartupMessages(library(brms))
  # studies/reading_pass (seeded simulation, see its README): 24 schools x 120 pupils, 0/1 outcome
  # `passed`, treatment `program`, no covariates. Fitted as sitefx's Bernoulli-logit records model
  # with its default priors for these data (sitefx fits the per-school arm counts, which are
  # sufficient statistics without covariates: the same posterior): uncorrelated school intercepts
  # (control log-odds) and school log odds ratios, alpha_mean ~ N(0, 2.5), mu ~ N(0, 2.5),
  # alpha_sd ~ half-N(2.5), tau ~ half-N(1) (brms bounds sd below by 0: half-normal).
  d <- read.csv("studies/reading_pass/reading_pass.csv", colClasses = c(school = "character"))
  stopifnot(all(d$passed %in% 0:1), all(d$program %in% 0:1), !anyNA(d))
  arms <- table(d$school, d$program)
  data_note_rp <- list(rows = nrow(d), schools = length(unique(d$school)),
                       treated = sum(d$program), passed = sum(d$passed),
                       min_pupils_per_arm = min(arms))
  form <- bf(passed ~ 0 + Intercept + program + (1 + program || school))
  priors <- c(
    prior(normal(0, 2.5), class = b, coef = Intercept),
    prior(normal(0, 2.5), class = b, coef = program),
    prior(normal(0, 2.5), class = sd, group = school, coef = Intercept),
    prior(normal(0, 1), class = sd, group = school, coef = program)
  )
  code <- make_stancode(form, data = d, family = bernoulli(), prior = priors)
  prior_lines <- stan_priors(code)
  stopifnot(identical(prior_lines, c(
    "lprior += normal_lpdf(b[1] | 0, 2.5)", "lprior += normal_lpdf(b[2] | 0, 2.5)",
    "lprior += normal_lpdf(sd_1[1] | 0, 2.5) - 1 * normal_lccdf(0 | 0, 2.5)",
    "lprior += normal_lpdf(sd_1[2] | 0, 1) - 1 * normal_lccdf(0 | 0, 1)")),
    !grepl("L_1|lkj", code), grepl("bernoulli_logit_glm_lpmf(Y | X, mu, b)", code, fixed = TRUE))
  # adapt_delta 0.95 as for binary_records; raise it if the run below reports divergences.
  adapt_delta <- as.numeric(Sys.getenv("READING_PASS_ADAPT_DELTA", "0.95"))
  call <- sprintf(paste("brm(%s, family = bernoulli(), data = d, prior = priors, chains = 4,",
                        "iter = 6000, warmup = 1000, seed = 20261127, cores = 2,",
                        "control = list(adapt_delta = %s))"), deparse1(form$formula), adapt_delta)
  started <- Sys.time()
  fit <- eval(parse(text = call))
  minutes <- as.numeric(difftime(Sys.time(), started, units = "mins"))
  problems <- sampler_problems(fit)
  ps <- prior_summary(fit)
  pars <- c(mu = "b_program", tau = "sd_school__program", alpha_mean = "b_Intercept",
            alpha_sd = "sd_school__Intercept")
  summ <- posterior::summarise_draws(posterior::subset_draws(posterior::as_draws(fit), variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  stopifnot(setequal(summ$variable, pars))
  theta <- site_effects(fit, "school", "program")
  stopifnot(setequal(theta$variable, unique(d$school)))
  print(summ); print(problems); print(range(theta$rhat))
  if (problems$divergences > 0 || any(summ$rhat >= 1.01) || any(theta$rhat >= 1.01))
    stop("reading_pass: divergences or R-hat >= 1.01; raise READING_PASS_ADAPT_DELTA and rerun")
  write_ref(list(
    provenance = provenance("brms", call, list(
      rstan = as.character(packageVersion("rstan")), formula = deparse(form$formula),
      family = "bernoulli(link = \"logit\")",
      priors = as.character(priors$prior),
      prior_targets = paste(priors$class, priors$group, priors$coef),
      prior_summary = as.data.frame(ps)[, c("prior", "class", "coef", "group", "lb", "source")],
      stan_priors = prior_lines, seed = 20261127, chains = 4, iter = 6000, warmup = 1000,
      adapt_delta = adapt_delta, data = data_note_rp, minutes = round(minutes, 2),
      divergences = problems$divergences, max_treedepth_hits = problems$max_treedepth_hits)),
    parameters = summ,
    theta = list(note = "b_program + r_school[school, program] per draw",
                 school = theta$variable, mean = theta$mean, sd = theta$sd,
                 mcse_mean = theta$mcse_mean, rhat = theta$rhat)
  ), "reading_pass_brms.json")
}

if ("tutoring_growth" %in% args) {
  suppressPackageStartupMessages(library(brms))
  # studies/tutoring_growth as sitefx fits it: each pupil's least-squares growth per year
  # (tutoring_growth_data()), then the Gaussian records model on the slopes with correlated school
  # intercepts (control growth) and school effects of tutoring on growth, with sitefx's default
  # priors for these data (S = SD of the slopes, 3.7; rounded to 2 significant digits):
  # alpha_mean ~ N(9, 9.2), mu ~ N(0, 9.2), alpha_sd ~ half-N(3.7), tau ~ half-N(3.7),
  # sigma ~ exponential(0.27) (rate), correlation ~ LKJ(2).
  tg <- tutoring_growth_data()
  pupils <- tg$pupils
  slopes_note <- list(n = nrow(pupils), mean = mean(pupils$slope), sd = sd(pupils$slope),
                      min = min(pupils$slope), max = max(pupils$slope),
                      definition = "sum(year_c * score) / sum(year_c^2) per pupil, year_c = year - 1.5")
  form <- bf(slope ~ 0 + Intercept + tutored + (1 + tutored | school))
  priors <- c(
    prior(normal(9, 9.2), class = b, coef = Intercept),
    prior(normal(0, 9.2), class = b, coef = tutored),
    prior(normal(0, 3.7), class = sd, group = school, coef = Intercept),
    prior(normal(0, 3.7), class = sd, group = school, coef = tutored),
    prior(exponential(0.27), class = sigma),
    prior(lkj(2), class = cor)
  )
  code <- make_stancode(form, data = pupils, prior = priors)
  prior_lines <- stan_priors(code)
  stopifnot(identical(prior_lines, c(
    "lprior += normal_lpdf(b[1] | 9, 9.2)", "lprior += normal_lpdf(b[2] | 0, 9.2)",
    "lprior += exponential_lpdf(sigma | 0.27)",
    "lprior += normal_lpdf(sd_1[1] | 0, 3.7) - 1 * normal_lccdf(0 | 0, 3.7)",
    "lprior += normal_lpdf(sd_1[2] | 0, 3.7) - 1 * normal_lccdf(0 | 0, 3.7)",
    "lprior += lkj_corr_cholesky_lpdf(L_1 | 2)")))
  adapt_delta <- as.numeric(Sys.getenv("TUTORING_GROWTH_ADAPT_DELTA", "0.95"))
  call <- sprintf(paste("brm(%s, data = pupils, prior = priors, chains = 4, iter = 6000,",
                        "warmup = 1000, seed = 20261127, cores = 2,",
                        "control = list(adapt_delta = %s))"), deparse1(form$formula), adapt_delta)
  started <- Sys.time()
  fit <- eval(parse(text = call))
  minutes <- as.numeric(difftime(Sys.time(), started, units = "mins"))
  problems <- sampler_problems(fit)
  ps <- prior_summary(fit)
  pars <- c(mu = "b_tutored", tau = "sd_school__tutored", alpha_mean = "b_Intercept",
            alpha_sd = "sd_school__Intercept", rho = "cor_school__Intercept__tutored",
            sigma = "sigma")
  summ <- posterior::summarise_draws(posterior::subset_draws(posterior::as_draws(fit), variable = unname(pars)),
                                     "mean", "sd", ~quantile(.x, c(0.025, 0.5, 0.975)),
                                     "mcse_mean", "mcse_sd", "rhat", "ess_bulk")
  summ$parameter <- names(pars)[match(summ$variable, pars)]
  stopifnot(setequal(summ$variable, pars))
  theta <- site_effects(fit, "school", "tutored")
  stopifnot(setequal(theta$variable, unique(pupils$school)))
  print(summ); print(problems); print(range(theta$rhat))
  if (problems$divergences > 0 || any(summ$rhat >= 1.01) || any(theta$rhat >= 1.01))
    stop("tutoring_growth: divergences or R-hat >= 1.01; raise TUTORING_GROWTH_ADAPT_DELTA and rerun")
  write_ref(list(
    provenance = provenance("brms", call, list(
      rstan = as.character(packageVersion("rstan")), formula = deparse(form$formula),
      family = "gaussian(link = \"identity\")",
      priors = as.character(priors$prior),
      prior_targets = paste(priors$class, priors$group, priors$coef),
      prior_summary = as.data.frame(ps)[, c("prior", "class", "coef", "group", "lb", "source")],
      stan_priors = prior_lines, seed = 20261127, chains = 4, iter = 6000, warmup = 1000,
      adapt_delta = adapt_delta, data = c(tg$note, list(slopes = slopes_note)),
      minutes = round(minutes, 2), divergences = problems$divergences,
      max_treedepth_hits = problems$max_treedepth_hits)),
    parameters = summ,
    theta = list(note = "b_tutored + r_school[school, tutored] per draw",
                 school = theta$variable, mean = theta$mean, sd = theta$sd,
                 mcse_mean = theta$mcse_mean, rhat = theta$rhat)
  ), "tutoring_growth_brms.json")
}

# Small-study and publication bias (issue 22): metafor's ML step-function selection model
# (Vevea & Hedges 1995) with one-sided p-value cut points .025, .05, .5 (steps end at 1), PET
# (SE as a moderator) and PEESE (variance as a moderator), and Egger's regression test, on the
# bundled meta-analyses of studies (school_calendar pooled as one level, as selmodel needs) and
# metafor's own selmodel example, dat.bangertdrowns2004 (writing-to-learn programmes).
if ("selection" %in% args) {
  suppressPackageStartupMessages(library(metafor))
  studies <- list(
    teacher_expectancy = list(file = "studies/teacher_expectancy/teacher_expectancy.csv",
                              yi = "d", sei = "se"),
    school_calendar = list(file = "studies/school_calendar/school_calendar.csv",
                           yi = "yi", sei = "se"))
  refs <- list()
  for (name in names(studies)) {
    s <- studies[[name]]
    dat <- read.csv(s$file)
    dat <- data.frame(yi = dat[[s$yi]], sei = dat[[s$sei]])
    refs[[name]] <- selection_references(dat, sprintf("%s: yi = %s, sei = %s", s$file, s$yi, s$sei))
  }
  b <- dat.bangertdrowns2004[!is.na(dat.bangertdrowns2004$yi), ]
  write.csv(data.frame(study = b$id, yi = b$yi, sei = sqrt(b$vi)),
            file.path(out_dir, "bangertdrowns2004.csv"), row.names = FALSE)
  refs[["bangertdrowns2004"]] <- selection_references(
    data.frame(yi = b$yi, sei = sqrt(b$vi)), "metafor::dat.bangertdrowns2004 (yi, sqrt(vi))")
  write_ref(refs, "selection_metafor.json")
}

# Classical MDES and power (sitefx.design.classical) against PowerUpR, the R port of Dong &
# Maynard's (2013) PowerUp!: multisite trials with random site effects (bira2, i.e. bira2r1; and
# bira3, i.e. bira3r1, sites within districts) and cluster-randomized trials (cra2, i.e. cra2r2;
# and cra3, i.e. cra3r3, classrooms within the randomized sites). The cases are the examples of
# PowerUpR's help pages (man/*.Rd: "cross-checks", whose power.* call passes the MDES rounded to
# 3 decimals, stored as `documented`), of its source (the `# example` comments in R/bira2.R and
# R/cra2.R) and of its three-level vignette, plus one bira2, cra2 and bira3 case each that sets
# every option sitefx maps (unequal allocation p, top-level covariates g, R-squareds, one-sided
# test, alpha, power). Each case stores PowerUpR's MDES and power at `es`, with the df and the
# standard error (MDES / ncp).
if ("design" %in% args) {
  suppressPackageStartupMessages(library(PowerUpR))
  design_case <- function(design, args, es, power = .80, documented = NULL) {
    run <- function(output, extra) {
      out <- NULL
      capture.output(out <- do.call(paste0(output, ".", design), c(args, extra)))
      call <- sprintf("%s.%s(%s)", output, design,
                      sub("^list\\((.*)\\)$", "\\1", deparse1(c(args, extra))))
      list(out = out, call = call)
    }
    m <- run("mdes", list(power = power))
    p <- run("power", list(es = es))
    list(provenance = provenance("PowerUpR", c(m$call, p$call),
                                 Filter(Negate(is.null), list(documented = documented))),
         design = design, args = args, target_power = power, es = es, df = m$out$df,
         se = m$out$mdes[1] / m$out$ncp, mdes = m$out$mdes[1], power = p$out$power)
  }
  help_page <- function(file, call) {
    sprintf("PowerUpR 1.1.0 %s, examples ('# cross-checks'): %s, the MDES to 3 decimals",
            file, call)
  }
  refs <- list(
    multisite_help = design_case(
      "bira2", list(rho2 = .17, omega2 = .50, n = 15, J = 20), es = .366,
      documented = list(mdes = .366, source = help_page(
        "man/bira2.Rd", "power.bira2(es=.366, rho2=.17, omega2=.50, n=15, J=20)"))),
    # es near the MDES: the source example's default es = .25 has power 1
    multisite_source = design_case("bira2", list(rho2 = .35, omega2 = .10, n = 83, J = 480),
                                   es = .03),
    multisite_options = design_case(
      "bira2", list(alpha = .10, two.tailed = FALSE, rho2 = .20, omega2 = .30,
                    g2 = 2, r21 = .50, r2t2 = .40, p = .40, n = 30, J = 25), es = .20, power = .90),
    cluster_help = design_case(
      "cra2", list(rho2 = .17, n = 15, J = 20), es = .629,
      documented = list(mdes = .629, source = help_page(
        "man/cra2.Rd", "power.cra2(es=.629, rho2=.17, n=15, J=20)"))),
    cluster_source = design_case("cra2", list(rho2 = .20, n = 4, J = 20, alpha = .01), es = .50),
    cluster_options = design_case(
      "cra2", list(alpha = .10, two.tailed = FALSE, rho2 = .15, g2 = 1,
                   r21 = .50, r22 = .60, p = .60, n = 25, J = 40), es = .25, power = .90),
    multisite3_help = design_case(
      "bira3", list(rho3 = .20, rho2 = .15, omega3 = .10, omega2 = .10, n = 69, J = 10, K = 100),
      es = .045, documented = list(mdes = .045, source = help_page(
        "man/bira3.Rd", paste("power.bira3(es = .045, rho3=.20, rho2=.15, omega3=.10,",
                              "omega2=.10, n=69, J=10, K=100)")))),
    multisite3_options = design_case(
      "bira3", list(alpha = .10, two.tailed = FALSE, rho3 = .10, rho2 = .15, omega3 = .20,
                    omega2 = .30, g3 = 2, r21 = .50, r2t2 = .30, r2t3 = .40, p = .40, n = 20,
                    J = 4, K = 15), es = .20, power = .90),
    cluster3_help = design_case(
      "cra3", list(rho3 = .06, rho2 = .17, n = 15, J = 3, K = 60), es = .269,
      documented = list(mdes = .269, source = help_page(
        "man/cra3.Rd", "power.cra3(es=.269, rho3=.06, rho2=.17, n=15, J=3, K=60)"))),
    # vignettes/three_level_cluster_randomized_trial.Rmd (Saxon Math, hypothetical values)
    cluster3_vignette = design_case(
      "cra3", list(rho2 = .06, rho3 = .18, g3 = 1, r21 = .55, r22 = .50, r23 = .45, p = .40,
                   n = 10, J = 2, K = 83), es = .23))
  write_ref(refs, "design_powerupr.json")
}

# Unbalanced growth (issue 24): tests/reference/tutoring_growth_unbalanced.csv (written by
# tutoring_growth_unbalanced.py): 20 schools x 30 pupils, scored at irregular times, pupils
# missing waves, 64 with one score. sitefx's long-format growth model: time centred at the mean
# of all scores' times; school levels, control growth and effects of tutoring on growth
# independent across schools; one effect of tutoring on the level; correlated pupil levels and
# growth. brms with sitefx's default priors for these data (S = SD of the scores, 21; G = S / SD
# of the times, 18; rounded to 2 significant digits), lme4 by ML.
if ("tutoring_growth_unbalanced" %in% args) {
  suppressPackageStartupMessages({ library(lme4); library(brms) })
  d <- read.csv("tests/reference/tutoring_growth_unbalanced.csv")
  d$year_c <- d$year - mean(d$year)
  scale_s <- sd(d$score); scale_g <- scale_s / sd(d$year)
  stopifnot(signif(scale_s, 2) == 21, signif(scale_g, 2) == 18, signif(mean(d$score), 2) == 210)
  note <- list(rows = nrow(d), pupils = length(unique(d$pupil)), schools = length(unique(d$school)),
               scores_per_pupil = as.list(table(table(d$pupil))), centre = mean(d$year),
               year_c = "year - mean(year)", S = scale_s, G = scale_g)
  form <- bf(score ~ 0 + Intercept + year_c + tutored + year_c:tutored + (1 + year_c | pupil) +
               (1 + year_c + year_c:tutored || school))
  priors <- c(
    set_prior("normal(210, 52)", class = "b", coef = "Intercept"),
    set_prior("normal(0, 44)", class = "b", coef = "year_c"),
    set_prior("normal(0, 52)", class = "b", coef = "tutored"),
    set_prior("normal(0, 44)", class = "b", coef = "year_c:tutored"),
    set_prior("normal(0, 21)", class = "sd", group = "school", coef = "Intercept"),
    set_prior("normal(0, 18)", class = "sd", group = "school", coef = "year_c"),
    set_prior("normal(0, 18)", class = "sd", group = "school", coef = "year_c:tutored"),
    set_prior("normal(0, 21)", class = "sd", group = "pupil", coef = "Intercept"),
    set_prior("normal(0, 18)", class = "sd", group = "pupil", coef = "year_c"),
    set_prior("exponential(0.048)", class = "sigma"),
    set_prior("lkj(2)", class = "cor", group = "pupil")
  )
  code <- make_stancode(form, data = d, prior = priors)
  prior_lines <- stan_priors(code)
  call <- paste("brm(form, data = d, prior = priors, chains = 4, iter = 3000, warmup = 1000,",
                "seed = 20261204, cores = 2, control = list(adapt_delta = 0.95))")
  started <- Sys.time()
  fit <- eval(parse(text = call))
  minutes <- as.numeric(difftime(Sys.time(), started, units = "mins"))
  problems <- sampler_problems(fit)
  pars <- c(mu = "b_year_c:tutored", tau = "sd_school__year_c:tutored",
            alpha_mean = "b_Intercept", alpha_sd = "sd_school__Intercept",
            growth_mean = "b_year_c", growth_sd = "sd_school__year_c", level_effect = "b_tutored",
            person_sd = "sd_pupil__Intercept", person_growth_sd = "sd_pupil__year_c",
            person_rho = "cor_pupil__Intercept__year_c", sigma = "sigma")
  summ <- summarise_parameters(posterior::as_draws(fit), pars)
  theta <- site_effects(fit, "school", "year_c:tutored")
  print(summ); print(problems); print(range(theta$rhat))
  if (problems$divergences > 0 || any(summ$rhat >= 1.01) || any(theta$rhat >= 1.01))
    stop("tutoring_growth_unbalanced: divergences or R-hat >= 1.01")
  write_ref(list(
    provenance = provenance("brms", call, c(list(
      rstan = as.character(packageVersion("rstan")), formula = deparse1(form$formula),
      family = "gaussian(link = \"identity\")", priors = as.character(priors$prior),
      prior_targets = paste(priors$class, priors$group, priors$coef), stan_priors = prior_lines,
      seed = 20261204, chains = 4, iter = 3000, warmup = 1000, adapt_delta = 0.95, data = note,
      minutes = round(minutes, 2)), problems)),
    parameters = summ,
    theta = site_record(theta, "b_year_c:tutored + r_school[school, year_c:tutored] per draw")
  ), "tutoring_growth_unbalanced_brms.json")

  call_ml <- paste("lmer(score ~ year_c * tutored + (1 + year_c | pupil) +",
                   "(1 + year_c + year_c:tutored || school), data = d, REML = FALSE)")
  m <- eval(parse(text = call_ml))
  vc <- as.data.frame(VarCorr(m))
  sd_of <- function(grp, v) vc$sdcor[which(vc$grp == grp & vc$var1 == v & is.na(vc$var2))]
  fe <- fixef(m); fse <- sqrt(diag(vcov(m)))
  write_ref(list(
    provenance = provenance("lme4", call_ml, list(
      data = note, singular = isSingular(m),
      warnings = c(m@optinfo$conv$lme4$messages, m@optinfo$warnings))),
    mu = fe[["year_c:tutored"]], mu_se = fse[["year_c:tutored"]],
    tau = sd_of("school.2", "year_c:tutored"),
    alpha_mean = fe[["(Intercept)"]], growth_mean = fe[["year_c"]],
    level_effect = fe[["tutored"]], level_effect_se = fse[["tutored"]],
    variance_components = vc, sigma = sigma(m), ml_loglik = as.numeric(logLik(m))
  ), "tutoring_growth_unbalanced_lme4.json")
}

# The unbalanced growth panel's extensions (issue 24), by ML in lme4 (fast; no brms): the same
# data and centred time as block tutoring_growth_unbalanced. level_effect: the effect of tutoring
# on the level varying across schools (sitefx --level-effect varying: level_effect_site_j ~
# N(level_effect_mean, level_effect_sd), independent of the other school effects). covariate: the
# baseline covariate prior_score (constant within pupil, centred over pupils as sitefx centres
# covariates), shifting each pupil's level (sitefx --covariates prior_score).
unbalanced_lme4 <- function(call_ml, d, note) {
  m <- eval(parse(text = call_ml))
  vc <- as.data.frame(VarCorr(m))
  fe <- fixef(m); fse <- sqrt(diag(vcov(m)))
  list(provenance = provenance("lme4", call_ml, list(
         data = note, singular = isSingular(m),
         warnings = c(m@optinfo$conv$lme4$messages, m@optinfo$warnings))),
       mu = fe[["year_c:tutored"]], mu_se = fse[["year_c:tutored"]],
       alpha_mean = fe[["(Intercept)"]], growth_mean = fe[["year_c"]],
       level_effect = fe[["tutored"]], level_effect_se = fse[["tutored"]],
       fixed_effects = as.list(fe), fixed_effect_se = as.list(fse),
       variance_components = vc, sigma = sigma(m), ml_loglik = as.numeric(logLik(m)))
}
if (any(c("tutoring_growth_unbalanced_level_effect", "tutoring_growth_unbalanced_covariate")
        %in% args)) {
  suppressPackageStartupMessages(library(lme4))
  d <- read.csv("tests/reference/tutoring_growth_unbalanced.csv")
  d$year_c <- d$year - mean(d$year)
  pupils <- d[!duplicated(d$pupil), ]
  stopifnot(all(tapply(d$prior_score, d$pupil, function(v) length(unique(v))) == 1))
  d$prior_c <- d$prior_score - mean(pupils$prior_score)
  note <- list(rows = nrow(d), pupils = nrow(pupils), schools = length(unique(d$school)),
               centre = mean(d$year), year_c = "year - mean(year)",
               prior_c = "prior_score - mean of prior_score over pupils")
}
if ("tutoring_growth_unbalanced_level_effect" %in% args) {
  call_ml <- paste("lmer(score ~ year_c * tutored + (1 + year_c | pupil) +",
                   "(1 + year_c + tutored + year_c:tutored || school), data = d, REML = FALSE)")
  ref <- unbalanced_lme4(call_ml, d, note)
  vc <- ref$variance_components
  ref$level_effect_sd <- vc$sdcor[which(vc$var1 == "tutored" & is.na(vc$var2))]
  ref$tau <- vc$sdcor[which(vc$var1 == "year_c:tutored" & is.na(vc$var2))]
  write_ref(ref, "tutoring_growth_unbalanced_level_effect_lme4.json")
}
if ("tutoring_growth_unbalanced_covariate" %in% args) {
  call_ml <- paste("lmer(score ~ year_c * tutored + prior_c + (1 + year_c | pupil) +",
                   "(1 + year_c + year_c:tutored || school), data = d, REML = FALSE)")
  ref <- unbalanced_lme4(call_ml, d, note)
  ref$beta <- ref$fixed_effects[["prior_c"]]; ref$beta_se <- ref$fixed_effect_se[["prior_c"]]
  write_ref(ref, "tutoring_growth_unbalanced_covariate_lme4.json")
}

# Comparative interrupted time series (issue 24): tests/reference/district_reading_cits.csv
# (written by district_reading_cits.py): 15 districts x 12 schools' yearly mean scores,
# 2012-2019, 4 schools per district adopting in the district's start year. sitefx's model:
# year centred at the mean year of all scores; after = 1 from the school's start year on;
# districts' levels, trends, steps at the start (after) and effects (adopted x after)
# independent across districts; one difference between the arms in level and one in trend;
# correlated school levels and trends. lme4 by ML.
if ("district_reading_cits" %in% args) {
  suppressPackageStartupMessages(library(lme4))
  d <- read.csv("tests/reference/district_reading_cits.csv")
  stopifnot(all(tapply(d$start, d$school, function(v) length(unique(v))) == 1),
            all(tapply(d$adopted, d$school, function(v) length(unique(v))) == 1))
  d$year_c <- d$year - mean(d$year)
  d$after <- as.numeric(d$year >= d$start)
  d$adopted_after <- d$adopted * d$after
  note <- list(rows = nrow(d), schools = length(unique(d$school)),
               districts = length(unique(d$district)), centre = mean(d$year),
               year_c = "year - mean(year)", after = "year >= start",
               adopted_after = "adopted * after")
  call_ml <- paste("lmer(score ~ year_c * adopted + after + adopted_after +",
                   "(1 + year_c | school) + (1 + year_c + after + adopted_after || district),",
                   "data = d, REML = FALSE)")
  m <- eval(parse(text = call_ml))
  vc <- as.data.frame(VarCorr(m))
  fe <- fixef(m); fse <- sqrt(diag(vcov(m)))
  district_sd <- function(term) vc$sdcor[which(startsWith(vc$grp, "district") & vc$var1 == term
                                               & is.na(vc$var2))]
  school <- vc[vc$grp == "school", ]
  ref <- list(
    provenance = provenance("lme4", call_ml, list(
      data = note, singular = isSingular(m),
      warnings = c(m@optinfo$conv$lme4$messages, m@optinfo$warnings))),
    mu = fe[["adopted_after"]], mu_se = fse[["adopted_after"]],
    shift_mean = fe[["after"]], shift_mean_se = fse[["after"]],
    level_difference = fe[["adopted"]], level_difference_se = fse[["adopted"]],
    trend_difference = fe[["year_c:adopted"]], trend_difference_se = fse[["year_c:adopted"]],
    alpha_mean = fe[["(Intercept)"]], alpha_mean_se = fse[["(Intercept)"]],
    growth_mean = fe[["year_c"]], growth_mean_se = fse[["year_c"]],
    tau = district_sd("adopted_after"), shift_sd = district_sd("after"),
    alpha_sd = district_sd("(Intercept)"), growth_sd = district_sd("year_c"),
    person_sd = school$sdcor[school$var1 == "(Intercept)" & is.na(school$var2)],
    person_growth_sd = school$sdcor[school$var1 == "year_c" & is.na(school$var2)],
    person_rho = school$sdcor[!is.na(school$var2)],
    sigma = sigma(m),
    theta = as.list(setNames(fe[["adopted_after"]] + ranef(m)$district[["adopted_after"]],
                             rownames(ranef(m)$district))),
    fixed_effects = as.list(fe), fixed_effect_se = as.list(fse),
    variance_components = vc, ml_loglik = as.numeric(logLik(m)))
  write_ref(ref, "district_reading_cits_lme4.json")
}
