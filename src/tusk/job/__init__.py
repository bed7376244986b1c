"""What runs inside a job: the TrainContext a train function sees, ctx.shared, ctx.log_model, entry loading."""
