"""The train wing: plan a ref, run, watch, reproduce, logs, cost, the models' table, CI workflows."""
