"""trademl: a research environment for daily-bar trading models.

Literate notebooks in `nbs/` are the source; `nbdev_export` writes this package. The package is built in
layers, each using only the ones above it (notebook -> module; the later 12... notebooks sit in
the layer they serve):

foundations
    00_core -> trademl.core;
    00b_metrics -> trademl.metrics;
    00c_distributed -> trademl.distributed
data
    01_dataset -> trademl.data;
    01a_contract -> trademl.contract;
    01i_health -> trademl.health
features and embeddings
    01b_ta -> trademl.ta;
    01c_smc -> trademl.smc;
    01d_features -> trademl.features;
    01e_labels -> trademl.labels;
    01f_kronos -> trademl.kronos;
    01h_local_encoder -> trademl.local_encoder;
    01g_dataset -> trademl.dataset;
    10_alpha_features -> trademl.alpha_features;
    10b_alpha_labels -> trademl.alpha_labels;
    11_multi_asset -> trademl.multi_asset;
    12c_regimes -> trademl.regimes
models
    02_timeformer -> trademl.models.timeformer;
    02a_layers -> trademl.models.layers;
    02g_losses -> trademl.models.losses;
    02h_patchtst -> trademl.models.patchtst;
    02i_bilstm_kan -> trademl.models.bilstm_kan;
    02j_hybrid -> trademl.models.hybrid;
    02k_zoo -> trademl.models.zoo;
    02b_train -> trademl.train;
    02c_inference -> trademl.inference;
    03_tft -> trademl.models.tft;
    04_veto -> trademl.veto;
    04b_ensemble -> trademl.ensemble;
    10c_alpha_model -> trademl.alpha;
    10d_stacker -> trademl.stacker;
    11bb_signal_models -> trademl.signal_models
validation
    05_validation -> trademl.validation;
    05a_significance -> trademl.significance;
    05b_experiment -> trademl.experiment;
    05c_governance -> trademl.governance;
    05d_comparison -> trademl.comparison;
    05e_classical -> trademl.classical;
    10e_factor_report -> trademl.factor_report;
    10f_alpha_validation -> trademl.alpha_validation;
    11d_allocation_validation -> trademl.allocation_validation;
    12d_ope -> trademl.ope
portfolio and backtest
    06_portfolio -> trademl.portfolio;
    06b_costs -> trademl.costs;
    06c_backtest -> trademl.backtest;
    06d_strategy -> trademl.strategy;
    06e_report -> trademl.report;
    06f_report_page -> trademl.report_page;
    11b_interpreters -> trademl.interpreters;
    11c_allocation -> trademl.allocation;
    12b_sizing -> trademl.sizing;
    12e_rl_sizing -> trademl.rl_sizing
execution
    07_broker -> trademl.broker;
    07a_alpaca_broker -> trademl.alpaca_broker;
    07a_fake_alpaca -> trademl.fake_alpaca;
    07b_live -> trademl.live;
    07ba_blotter -> trademl.blotter;
    07bb_child_orders -> trademl.child_orders;
    07bc_tripwires -> trademl.tripwires;
    07bd_shadow -> trademl.shadow;
    07c_paper_trade -> trademl.paper;
    12_execution -> trademl.execution
interfaces
    08_cli -> trademl.cli;
    08a_jobs -> trademl.jobs;
    08b_cli_trade -> trademl.cli_trade;
    08c_demo -> trademl.demo;
    08d_cli_allocate -> trademl.cli_allocate;
    08e_cli_alpha -> trademl.cli_alpha;
    10g_alpha_jobs -> trademl.alpha_jobs;
    prod/train;
    prod/daily_report;
    prod/allocate

The base install is light; heavy parts are extras (`train`, `report`, `trade`, `online`, `all`), and a
missing extra is named in the error. Start with `trademl.data.load_panel('sample')` or `trademl demo`.
"""

__version__ = "0.1.0"
