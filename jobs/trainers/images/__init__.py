"""Text-to-image LoRA for Stable Diffusion 1.x/2.x and SDXL (UNet, ``model``) and FLUX.1 / SD 3.x (transformer, flow matching:
``flow``, ``flow_train``): training batches, the pipeline's trainable parts, the one step loop both drive (``loop``), samples,
checkpoints (``run_state``), LoRA files.

``jobs.trainers.images.train.train_text_to_image`` is the trainer registered for ``task: text-to-image``; pipelines are
found and loaded by :mod:`jobs.models.pipelines`; :mod:`jobs.trainers.images.lora_files` writes the LoRA in the diffusers
and kohya/A1111 layouts (FLUX: the BFL keys of :mod:`jobs.trainers.images.flux_kohya`).
"""
