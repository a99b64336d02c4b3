"""trademl: a research environment for daily-bar trading models.

Literate notebooks in `nbs/` are the source; `nbdev_export` writes this package. The package is built in
layers, each using only the ones above it (notebook -> module; the later 12... notebooks sit in
the layer they serve):

foundations
    00_core -> trademl.core (one Config base, the TrademlError family, paths, seeding, quiet logging);
    00b_metrics -> trademl.metrics (the one home of performance statistics: Sharpe, drawdown, CAGR, IC)
data
    01_dataset -> trademl.data (the panel contract, providers, validation, repair, adjustment, calendars)
features and embeddings
    01b_ta -> trademl.ta; 01c_smc -> trademl.smc; 01d_features -> trademl.features;
    01e_labels -> trademl.labels; 01f_kronos -> trademl.kronos (Kronos embeddings);
    01g_dataset -> trademl.dataset (the model-ready dataset);
    12c_regimes -> trademl.regimes (causal regime probabilities, GARCH-family volatility forecasts)
models
    02_timeformer -> trademl.models.timeformer (TimeFormer-XL); 02b_train -> trademl.train;
    02c_inference -> trademl.inference; 03_tft -> trademl.models.tft (TFT-XL);
    04_veto -> trademl.veto; 04b_ensemble -> trademl.ensemble
validation
    05_validation -> trademl.validation (CPCV, PSR/DSR, PBO, calibration);
    05b_experiment -> trademl.experiment; 05c_governance -> trademl.governance (champion/challenger);
    05d_comparison -> trademl.comparison (the Diebold-Mariano test);
    12d_ope -> trademl.ope (off-policy evaluation)
portfolio and backtest
    06_portfolio -> trademl.portfolio; 06b_costs -> trademl.costs; 06c_backtest -> trademl.backtest;
    06d_strategy -> trademl.strategy; 06e_report -> trademl.report (the daily report);
    12b_sizing -> trademl.sizing (fractional, capped Kelly sizes)
execution
    07_broker -> trademl.broker; 07a_fake_alpaca -> trademl.fake_alpaca; 07b_live -> trademl.live;
    07c_paper_trade -> trademl.paper (paper trading); 12_execution -> trademl.execution (Almgren-Chriss)
interfaces
    08_cli -> trademl.cli (the `trademl` command line); prod/train and prod/daily_report -> trademl/prod/
    (papermill notebooks)

The base install is light; heavy parts are extras (`train`, `report`, `trade`, `online`, `all`), and a
missing extra is named in the error. Start with `trademl.data.load_panel('sample')` or `trademl demo`.
"""

__version__ = "0.1.0"
