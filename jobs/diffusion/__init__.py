"""Text-to-image LoRA for Stable Diffusion 1.x/2.x and SDXL: pipeline loading, training, samples, export.

``jobs.diffusion.train.train_text_to_image`` is the trainer registered for ``task: text-to-image``.
"""
