# Time brms (rstan) on site summaries (sitefx benchmark S1), compile and sampling separately.
# Usage: Rscript brms_summaries.R summaries.csv MU_SD TAU_SCALE CHAINS WARMUP DRAWS SEED
# The CSV has columns site, estimate, se. Priors mirror sitefx's defaults:
# mu ~ normal(0, MU_SD), tau ~ half-normal(TAU_SCALE); adapt_delta matches target_accept 0.95.
# Prints one line "RESULT {json}".
suppressPackageStartupMessages({
  library(brms)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
summaries <- read.csv(args[1])
numbers <- as.numeric(args[2:7])
names(numbers) <- c("mu_sd", "tau_scale", "chains", "warmup", "draws", "seed")
priors <- c(
  set_prior(sprintf("normal(0, %s)", numbers[["mu_sd"]]), class = "Intercept"),
  set_prior(sprintf("normal(0, %s)", numbers[["tau_scale"]]), class = "sd")
)
formula <- bf(estimate | se(se) ~ 1 + (1 | site))

# chains = 0 compiles the Stan model without sampling; update() then reuses it.
compile <- system.time(
  empty <- brm(formula, data = summaries, prior = priors, chains = 0, silent = 2, refresh = 0)
)[["elapsed"]]
sampling <- system.time(
  model <- update(
    empty,
    recompile = FALSE, chains = numbers[["chains"]], warmup = numbers[["warmup"]],
    iter = numbers[["warmup"]] + numbers[["draws"]], cores = min(numbers[["chains"]], 2),
    seed = numbers[["seed"]], control = list(adapt_delta = 0.95), silent = 2, refresh = 0
  )
)[["elapsed"]]

draws <- posterior::subset_draws(posterior::as_draws_df(model),
                                 variable = c("b_Intercept", "sd_site__Intercept"))
table <- posterior::summarise_draws(draws, "mean", "sd", "rhat", "ess_bulk")
divergent <- sum(nuts_params(model, pars = "divergent__")$Value)
cat("RESULT", toJSON(list(
  compile_seconds = compile,
  sampling_seconds = sampling,
  mu = table$mean[1], tau = table$mean[2],
  ess_bulk_mu = table$ess_bulk[1], ess_bulk_tau = table$ess_bulk[2],
  rhat_max = max(table$rhat), divergent = divergent,
  brms = as.character(packageVersion("brms")),
  rstan = as.character(packageVersion("rstan"))
), auto_unbox = TRUE, digits = NA), "\n")
