"""The Portuguese words of the sentences with numbers that jobs/ builds: the report's data line
(:data:`jobs.data.doctor_notes.DATA_LINE_EN`, keys ``dataline.<key>``), the Models tab's machine line
(:data:`jobs.models.hardware.MACHINE_LINE_EN`, keys ``machine.<key>``) and where the Playground runs an image pipeline
(:data:`jobs.inference.images.PLACEMENT_EN`, keys ``placement.<key>``).

The sentence is built once, in jobs/, from a table of its words; :func:`webui.i18n.string_table` hands it the table of the
page's language. English comes from the tables in jobs/ themselves (:mod:`webui.strings.en`), so the two cannot drift apart.
"""

from __future__ import annotations

_FIX = "antes do treino, o Corrigir da aba Dados"

DATA_LINE_PT: dict[str, str] = {
    "trained_on": "treinado com {count} {unit}",
    "row.one": "linha",
    "row.other": "linhas",
    "image.one": "imagem",
    "image.other": "imagens",
    # active voice ("removeu 37 duplicatas"): no participle to agree with the gender of what was removed
    "fixed.removed.one": f"{_FIX} removeu {{removed}}",
    "fixed.removed.other": f"{_FIX} removeu {{removed}}",
    "fixed.masked.one": f"{_FIX} mascarou {{masked}}",
    "fixed.masked.other": f"{_FIX} mascarou {{masked}}",
    "fixed.both.one": f"{_FIX} removeu {{removed}} e mascarou {{masked}}",
    "fixed.both.other": f"{_FIX} removeu {{removed}} e mascarou {{masked}}",
    "fixed.summary": f"{_FIX}: {{summary}}",
    "left_in": "ainda nos dados: {found}",
    "no_problems": "a verificação dos dados não encontrou problemas",
    "not_checked": "os dados não foram verificados: {reason}",
    "hub_dataset": ("os dados não foram verificados: são um dataset do Hub, lido quando o treino começa; verifique uma cópia baixada "
                    "com launch.py data-check"),
    "separator": "; ",
    "comma": ", ",
    "and": " e ",
    "thousands": ".",
    "kind.exact_duplicate.one": "duplicata",
    "kind.exact_duplicate.other": "duplicatas",
    "kind.normalised_duplicate.one": "duplicata",
    "kind.normalised_duplicate.other": "duplicatas",
    "kind.near_duplicate.one": "quase duplicata",
    "kind.near_duplicate.other": "quase duplicatas",
    "kind.validation_copy.one": "linha de validação copiada do treino",
    "kind.validation_copy.other": "linhas de validação copiadas do treino",
    "kind.email.one": "endereço de e-mail",
    "kind.email.other": "endereços de e-mail",
    "kind.phone.one": "número de telefone",
    "kind.phone.other": "números de telefone",
    "kind.card.one": "número de cartão",
    "kind.card.other": "números de cartão",
    "kind.iban.one": "IBAN",
    "kind.iban.other": "IBANs",
    "kind.cpf.one": "CPF",
    "kind.cpf.other": "CPFs",
    "kind.cnpj.one": "CNPJ",
    "kind.cnpj.other": "CNPJs",
    "kind.ip_address.one": "endereço IP",
    "kind.ip_address.other": "endereços IP",
    "kind.secret.one": "segredo",
    "kind.secret.other": "segredos",
    "kind.too_long.one": "linha maior que o tamanho máximo",
    "kind.too_long.other": "linhas maiores que o tamanho máximo",
    "kind.rare_class.one": "linha de uma classe rara",
    "kind.rare_class.other": "linhas de classes raras",
    "kind.empty_answer.one": "resposta vazia",
    "kind.empty_answer.other": "respostas vazias",
    "kind.repeats_prompt.one": "resposta que repete o prompt",
    "kind.repeats_prompt.other": "respostas que repetem o prompt",
    "kind.other_language.one": "linha em outro idioma",
    "kind.other_language.other": "linhas em outro idioma",
    "kind.image_duplicate.one": "imagem duplicada",
    "kind.image_duplicate.other": "imagens duplicadas",
    "kind.caption_missing.one": "legenda ausente",
    "kind.caption_missing.other": "legendas ausentes",
    "kind.caption_identical.one": "legenda idêntica",
    "kind.caption_identical.other": "legendas idênticas",
    "kind.image_too_small.one": "imagem abaixo do tamanho de treino",
    "kind.image_too_small.other": "imagens abaixo do tamanho de treino",
    "kind.single_image_bucket.one": "imagem sozinha no seu bucket de proporção",
    "kind.single_image_bucket.other": "imagens sozinhas no seu bucket de proporção",
    "kind.conflicting_label.one": "linha com rótulo conflitante",
    "kind.conflicting_label.other": "linhas com rótulos conflitantes",
    "kind.conflicting_answer.one": "linha com resposta conflitante",
    "kind.conflicting_answer.other": "linhas com respostas conflitantes",
    "kind.conflicting_preference.one": "linha com escolhida e rejeitada trocadas",
    "kind.conflicting_preference.other": "linhas com escolhida e rejeitada trocadas",
}
"""The report's data line in Portuguese: "treinado com 1.204 linhas; antes do treino, o Corrigir da aba Dados removeu 37
duplicatas e mascarou 4 endereços de e-mail"."""

MACHINE_LINE_PT: dict[str, str] = {
    "no_gpu": "Sem GPU CUDA: o treino roda na CPU em fp32 (LoRA, DoRA, prompt tuning, full; {qlora}).",
    "qlora_on_cpu": ("QLoRA na CPU: treina, mas medido aqui precisa de tanta memória quanto LoRA (sua estimativa é a de LoRA) e não é "
                     "mais rápido; prefira LoRA numa CPU"),
    "qlora_blocked": "QLoRA {blocker}",
    "needs_bitsandbytes": "precisa do pacote bitsandbytes (pip install -r requirements.txt)",
    "needs_newer_bitsandbytes": ("precisa de uma GPU CUDA, ou do bitsandbytes 0.50 ou mais novo para treinar na CPU (esta máquina tem "
                                 "{version}; pip install -r requirements.txt)"),
    "gpus": "{count}× {names} ({memory} cada)",
    "cpu_torch": "{gpus}, mas o torch é a versão para CPU: reinstale com `make run GPU=1`.",
    "gpu_ready": "{gpus}, {dtype}, atenção {attention}, {kernels}; {qlora}.",
    "no_kernels": "nenhum kernel de GPU",
    "qlora_ready": "QLoRA pronto",
    "qlora_needs_bitsandbytes": "QLoRA precisa do bitsandbytes",
}
"""The Models tab's machine line in Portuguese: "Sem GPU CUDA: o treino roda na CPU em fp32 (...)"."""

PLACEMENT_PT: dict[str, str] = {
    "cpu_bf16": "sem GPU CUDA: bfloat16 na CPU, que o multiplica nativamente (AVX-512 BF16 ou AMX)",
    "cpu_fp32": "sem GPU CUDA: float32 na CPU (esta CPU não tem bfloat16 nativo, que seria lento)",
    "needs": "o pipeline precisa de cerca de {needed} em {dtype} e a GPU tem {free} livres",
    "all_on_gpu": "tudo na GPU em {dtype}: {needs}",
    "model_offload": "{needs}: cada componente vai para a GPU enquanto roda (model CPU offload, mais lento)",
    "sequential_offload": ("{needs}, menos que só o seu {largest} ({largest_size}): os pesos vão para a GPU camada por camada "
                           "(sequential CPU offload, bem mais lento)"),
}
"""Where the Playground runs an image pipeline, in Portuguese (:data:`jobs.inference.images.PLACEMENT_EN`)."""

ROWS_NOTE_PT: dict[str, str] = {
    "same_rows": "Os {count} relatórios foram medidos nas mesmas linhas reservadas (impressão digital do split.json {fingerprint}).",
    "other_rows": ("⚠️ Estes relatórios não foram todos medidos nas mesmas linhas reservadas ({shown}), então suas métricas antes → "
                   "depois não são comparáveis; compare execuções com os mesmos dados e o mesmo data.split_seed."),
    "not_recorded": "não registrado",
}
"""Compare runs: were the reports measured on the same held-out rows (:data:`jobs.queue.compare.ROWS_NOTE_EN`)."""

SUMMARY_PT: dict[str, str] = {
    "line": "{name}: {count} trabalhos ({states})",
    "best": "; melhor: #{job} com {label} {value} ({direction} é melhor)",
    "highest": "maior",
    "lowest": "menor",
    "not_ranked": ("; fora do ranking: {shown} (medidos em outras linhas reservadas que o resto, ou linhas não registradas, então suas "
                   "notas não são comparáveis)"),
    "status.queued": "na fila",  # after a count of jobs ("3 com sucesso, 1 com falha"): no adjective to agree in number
    "status.running": "em execução",
    "status.succeeded": "com sucesso",
    "status.failed": "com falha",
    "status.cancelled": "cancelado(s)",
}
"""Compare runs: a sweep's one-line summary (:data:`jobs.queue.sweep_ranking.SUMMARY_EN`)."""

SENTENCES_PT: dict[str, str] = {**{f"dataline.{key}": text for key, text in DATA_LINE_PT.items()},
                                **{f"machine.{key}": text for key, text in MACHINE_LINE_PT.items()},
                                **{f"placement.{key}": text for key, text in PLACEMENT_PT.items()},
                                **{f"compare.rows.{key}": text for key, text in ROWS_NOTE_PT.items()},
                                **{f"sweep.{key}": text for key, text in SUMMARY_PT.items()}}
"""Both tables under the keys the UI looks up (:func:`webui.i18n.string_table`)."""
