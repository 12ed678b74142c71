"""The inference server (`modelrollout serve`): Open Inference Protocol over REST."""
