"""The trainers: one module per objective, sharing one training tail.

- :mod:`jobs.trainers.registry`: ``get_trainer(task)``, the training function of a task (imports every trainer, so torch;
  only the training process imports it).
- :mod:`jobs.trainers.text` (sft: causal LM and classification), :mod:`jobs.trainers.embedding` (sentence-embedding),
  :mod:`jobs.trainers.preference` (dpo, orpo, kto), :mod:`jobs.trainers.grpo`, :mod:`jobs.trainers.images` (text-to-image).
- :mod:`jobs.trainers.tail`: the end they share (train from the last checkpoint, evaluate, save ``adapter/`` or ``model/``,
  the ``TrainOutcome``); :mod:`jobs.trainers.arguments`, :mod:`jobs.trainers.methods` (LoRA, QLoRA, DoRA, prompt tuning,
  full), :mod:`jobs.trainers.collate`, :mod:`jobs.trainers.progress` and :mod:`jobs.trainers.checkpoint_timer` (callbacks;
  :mod:`jobs.trainers.metric_writer` writes metric rows off the training loop),
  :mod:`jobs.trainers.evaluation` (classification scores).
- Light, for the web UI: :mod:`jobs.trainers.recommend` (the Train tab's recommended values),
  :mod:`jobs.trainers.rewards` (GRPO reward terms) and :mod:`jobs.trainers.data_check_process` (the data check before
  training, with the chosen model's tokenizer, in a process of its own).

This ``__init__`` imports nothing, so importing a light module of the package never loads torch.
"""
