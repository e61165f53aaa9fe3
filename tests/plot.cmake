# Figures (src/plot/): what each figure draws, through the figure log.
ts_add_test(test_plot_figures unit)
