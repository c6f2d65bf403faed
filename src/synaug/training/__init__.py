"""Training: stage 1 (the model on real + synthetic images), stage 2 (the last layer, class- or
group-balanced), the methods that change them (`methods`), and running it over several processes
(`distributed`). Import the parts: `synaug.training.loop`, `synaug.training.pipeline`, `synaug.training.models`, ..."""
