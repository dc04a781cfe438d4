"""The paper's pipeline: images, VGG19's features and weights, the losses, the objective
and the optimisation loop."""
