"""The Brazilian Portuguese label and help of every JobSpec field (English comes from the schema itself)."""

from __future__ import annotations

_PT_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("Nome", "Um nome para encontrar a execução."),
    "task": ("Tarefa", "causal-lm (gerar texto), text-classification (classificar texto), text-to-image (LoRA de Stable Diffusion) "
                       "ou sentence-embedding (embeddings para busca)."),
    "base_model_revision": ("Revisão do modelo base", "Só para modelos do Hub: o branch, a tag ou o commit a usar (vazio: main). O spec.yaml "
                            "de uma execução registra o commit exato, para que repeti-la use os mesmos pesos."),
    "method": ("Método", "lora, qlora, prompt-tuning ou full (ajuste completo)."),
    "data.validation": ("Validação", "Dados reservados: uma fração das linhas de treino (0 a 0,5), um arquivo (dataset do Hub: o nome de um "
                                     "split; text-to-image: uma pasta ou .zip de imagens com legendas), ou vazio para nenhum. "
                                     "O relatório antes/depois é medido neles."),
    "data.split_seed": ("Semente da divisão", "Semente que escolhe as linhas reservadas (a fração de data.validation ou a reserva "
                                              "automática); independente de training.seed, então a semente de treino, max_length e "
                                              "train_on_prompt nunca mudam uma linha de lado. Nunca varrida: todas as tarefas de uma "
                                              "varredura são medidas nas mesmas linhas."),
    "data.thinking": ("Raciocínio (thinking)", "Modelos causais cujo modelo de chat tem a chave de raciocínio (Qwen3, SmolLM3): on treina e "
                                               "responde com o bloco de raciocínio (um campo reasoning, ou <think>...</think> no início "
                                               "da resposta), off com o bloco vazio (o modelo responde direto), auto mantém o padrão do "
                                               "modelo de chat. Vai como enable_thinking ao modelo de chat no treino, no Playground e no "
                                               "relatório; outros modelos de chat aceitam só auto."),
    "data.config": ("Configuração", "Só para dataset do Hub: a configuração (subconjunto) a carregar, se houver várias."),
    "data.split": ("Divisão", "Só para dataset do Hub: a divisão usada no treino, ex.: train ou train[:1000]."),
    "data.format": ("Formato dos dados", "auto detecta pelas colunas; text, instruction, chat ou classification forçam o formato."),
    "training.epochs": ("Épocas", "Passagens pelos dados de treino."),
    "training.max_steps": ("Máximo de passos", "Para após este número de passos do otimizador (substitui as épocas)."),
    "training.learning_rate": ("Taxa de aprendizado", "Taxa de aprendizado máxima."),
    "training.batch_size": ("Tamanho do lote", "Exemplos por dispositivo por passo."),
    "training.gradient_accumulation": ("Acumulação de gradiente", "Passos acumulados antes de cada atualização do otimizador."),
    "training.max_length": ("Comprimento máximo", "Maior exemplo em tokens; os mais longos são truncados."),
    "training.warmup_ratio": ("Fração de aquecimento", "Fração dos passos usada para aquecer a taxa de aprendizado."),
    "training.scheduler": ("Agendador", "Curva da taxa de aprendizado após o aquecimento."),
    "training.weight_decay": ("Decaimento de pesos", "Decaimento de pesos do AdamW."),
    "training.eval_steps": ("Avaliar a cada", "Avalia a cada N passos (vazio: ao fim de cada época quando há validação)."),
    "training.save_steps": ("Salvar a cada", "Salva um checkpoint retomável a cada N passos (vazio: só no fim)."),
    "training.logging_steps": ("Registrar a cada", "Registra métricas a cada N passos."),
    "training.seed": ("Semente", "Semente aleatória para a ordem dos dados e a inicialização."),
    "training.precision": ("Precisão", "auto, fp32, bf16 ou fp16 (bf16/fp16 precisam de CUDA)."),
    "training.gradient_checkpointing": ("Checkpoint de gradiente", "Troca computação por memória em sequências longas (na GPU também liga "
                                                                 "sozinho quando a estimativa de memória não cabe sem ele)."),
    "training.liger_kernel": ("Kernels Liger", "Kernels de GPU fundidos do Liger Kernel (RMSNorm, SwiGLU, RoPE, entropia cruzada linear fundida): "
                                               "menos memória, mais tokens/s. auto: em GPU CUDA com liger-kernel instalado, para os modelos "
                                               "causais que ele suporta; on: exigir; off: nunca."),
    "training.packing": ("Empacotamento", "Só causal LM: junta exemplos inteiros em cada sequência de max_length; cada exemplo só "
                                          "atende a si mesmo. Não com prompt tuning."),
    "training.group_by_length": ("Agrupar por tamanho", "Agrupa exemplos de tamanho parecido para desperdiçar menos preenchimento."),
    "training.train_on_prompt": ("Treinar no prompt", "Também calcula a perda nos tokens do prompt e do usuário (padrão: só respostas)."),
    "lora.r": ("Posto (r)", "Posto da atualização de baixo posto."),
    "lora.alpha": ("Alpha", "Numerador da escala; a atualização é multiplicada por alpha / r."),
    "lora.dropout": ("Dropout", "Dropout na entrada do LoRA."),
    "lora.target_modules": ("Módulos alvo", "auto: toda camada linear exceto as cabeças do modelo (tarefas de texto; medido melhor que só "
                                            "a atenção) e as projeções de atenção da UNet em text-to-image; all-linear: toda camada "
                                            "linear; ou uma lista de nomes como q_proj, v_proj."),
    "lora.use_dora": ("Usar DoRA", "LoRA com decomposição de pesos (DoRA)."),
    "prompt_tuning.num_virtual_tokens": ("Tokens virtuais", "Número de tokens virtuais treináveis."),
    "prompt_tuning.init_text": ("Texto inicial", "Inicializa os tokens virtuais a partir deste texto (vazio: aleatório)."),
    "resources.gpus": ("GPUs", "GPUs para esta tarefa; mais de 1 usa treino paralelo com accelerate."),
    "resources.strategy": ("Estratégia", "ddp (paralelismo de dados) ou fsdp (o modelo fragmentado entre 2 ou mais GPUs), para tarefas com vários processos."),
    "resources.processes": ("Processos", "Processos de treino em CPU (paralelismo de dados com gloo); com GPU conta o número de GPUs."),
    # issue 5 (text-to-image): paste into _PT_FIELDS in webui/strings/pt_br_fields.py
    "images.caption": ("Legendas", "De onde vêm as legendas: auto (metadata.jsonl/csv, senão .txt de mesmo nome, senão o prompt de instância), "
                       "txt, metadata ou instance_prompt."),
    "images.instance_prompt": ("Prompt de instância", "Uma legenda para toda imagem sem a sua, por exemplo 'a photo of sks dog'."),
    "images.trigger_word": ("Palavra-gatilho", "Uma palavra rara posta no início de cada legenda que não a tem, por exemplo sks."),
    "images.resolution": ("Resolução", "Tamanho de treino em pixels (múltiplo de 8): o lado do quadrado; os baldes de proporção têm "
                          "quase tantos pixels quanto ele."),
    "images.aspect_buckets": ("Baldes de proporção", "Treina cada imagem no balde de proporção mais próximo do seu formato (cerca de "
                              "resolução² pixels, lados em passos de 64 px), cada lote de um só balde, para retratos e paisagens "
                              "guardarem o conteúdo; desligado: toda imagem é recortada quadrada."),
    "images.crop": ("Recorte", "Recorte central ou aleatório do que sobra depois de redimensionar a imagem para cobrir o seu balde "
                    "(o quadrado sem baldes de proporção)."),
    "images.random_flip": ("Espelhar ao acaso", "Espelha imagens na horizontal ao acaso (não para assuntos com texto ou assimetria)."),
    "images.noise_offset": ("Deslocamento de ruído", "Intensidade do offset noise (0,05-0,1 ajuda imagens muito escuras ou claras)."),
    "images.timestep_sampling": ("Sorteio dos passos de tempo", "FLUX.1 e SD 3.x: como os passos de tempo do treino são sorteados: "
                                                                "logit_normal (média 0, desvio 1), mode (escala 1,29) ou uniform; o "
                                                                "deslocamento (shift) do agendador se aplica por cima."),
    "images.flux_guidance": ("Guidance do FLUX", "FLUX.1-dev: o valor de guidance dado ao embedding de guidance no treino (ignorado "
                                                 "pelo FLUX.1-schnell e pelo SD 3.x)."),
    "images.quantize_base": ("Quantizar a base", "FLUX.1 e SD 3.x: guarda o transformer congelado em 8bit ou nf4 (bitsandbytes, só CUDA) "
                                                 "ou fp8 (armazenamento float8, qualquer dispositivo, precisa de "
                                                 "training.gradient_checkpointing) para o job caber numa placa de 24 GB."),
    "images.snr_gamma": ("Gama do SNR", "Gama da ponderação Min-SNR da perda (5 é comum; vazio: MSE simples)."),
    "images.use_8bit_adam": ("Adam de 8 bits", "AdamW de 8 bits do bitsandbytes (precisa de CUDA e bitsandbytes)."),
    "images.cache_latents": ("Guardar latentes", "Codifica as imagens com o VAE uma vez (mais rápido; sem recorte aleatório nem espelho)."),
    "training.max_grad_norm": ("Norma máxima do gradiente", "Limita a norma do gradiente a este valor antes de cada atualização do otimizador."),
    "images.train_text_encoder": ("Treinar codificador de texto", "Também coloca LoRA na atenção do(s) codificador(es) de texto (lora.r, "
                                  "alpha e dropout valem para os dois)."),
    "samples.prompts": ("Prompts de amostra", "Prompts a renderizar (vazio: sem amostras)."),
    "samples.every_steps": ("Amostras a cada", "Renderiza a cada N passos (vazio: só no fim)."),
    "samples.seed": ("Semente das amostras", "Semente das imagens de amostra, a mesma em todo passo."),
    "samples.num_inference_steps": ("Passos de inferência", "Passos de remoção de ruído por imagem de amostra."),
    "samples.guidance_scale": ("Escala de orientação", "Escala de classifier-free guidance das amostras."),
    "training.checkpoint_minutes": ("Checkpoint a cada (minutos)", "Também salva um checkpoint retomável a cada tantos minutos de treino, "
                                    "para que uma queda perca minutos, não o treino (vazio: só em save_steps ou no fim das épocas). "
                                    "Uma tarefa reiniciada continua do checkpoint completo mais recente."),
    "evaluation.enabled": ("Relatório antes/depois", "Avalia o modelo base e o adaptado nas linhas reservadas depois do treino "
                           "(runs/<tarefa>/eval_report.json, a aba Tarefas, o cartão do modelo)."),
    "evaluation.holdout": ("Parte reservada", "Sem data.validation: a parte das linhas de treino reservada para o relatório, "
                           "quando os dados têm pelo menos 50 linhas utilizáveis."),
    "evaluation.max_rows": ("Máximo de linhas avaliadas", "Avalia no máximo tantas linhas reservadas (limita o custo do relatório)."),
    "evaluation.max_new_tokens": ("Máximo de tokens gerados", "causal-lm: a resposta mais longa gerada por linha ao comparar com a resposta de referência."),
    "evaluation.batch_size": ("Lote da avaliação", "Linhas avaliadas juntas (maior é mais rápido, menor usa menos memória)."),
    # issue 13 (sentence-embedding)
    "embedding.loss": ("Função de perda", "sentence-embedding: mnrl (negativos do próprio lote, para pares e trios), cached-mnrl (o mesmo "
                       "com lotes grandes em pouca memória) ou cosent (pares com nota)."),
    "embedding.matryoshka_dims": ("Tamanhos Matryoshka", "sentence-embedding: treino Matryoshka: os tamanhos de embedding que devem "
                                  "continuar bons, por exemplo [384, 128, 64] (vazio: desligado)."),
    "embedding.mini_batch_size": ("Minilote", "sentence-embedding: só cached-mnrl: linhas embutidas de uma vez dentro de um lote "
                                  "(diminua para poupar memória; o lote continua training.batch_size)."),
    "embedding.no_duplicates": ("Sem repetidos no lote", "sentence-embedding: mantém textos repetidos fora de um mesmo lote, para que "
                                "nenhum negativo do lote seja na verdade um positivo (mnrl e cached-mnrl)."),
    "embedding.mine_hard_negatives": ("Minerar negativos difíceis", "sentence-embedding: transforma pares em trios com negativos difíceis "
                                      "achados pelo modelo base entre os trechos de treino antes do treino."),
    "embedding.num_negatives": ("Negativos por par", "sentence-embedding: negativos difíceis minerados por par."),
    "embedding.negative_margin": ("Margem dos negativos", "sentence-embedding: um negativo minerado precisa pontuar pelo menos isto abaixo "
                                  "do positivo (cosseno), para que quase-cópias do positivo não virem negativos."),
    "embedding.corpus": ("Corpus extra", "sentence-embedding: um arquivo opcional de trechos extras (coluna text ou passage) buscados "
                         "pelo relatório antes/depois e pelo Playground, além dos trechos dos dados."),
    # issue 14 (preference tuning and GRPO)
    "objective": ("Objetivo", "causal-lm: sft (aprende as respostas), dpo, orpo ou kto (aprende qual de duas respostas é a preferida) "
                  "ou grpo (aprende com recompensas)."),
    "preference.beta": ("Beta", "dpo/kto: quanto o modelo pode se afastar da referência (maior: fica mais perto); orpo: o peso do termo "
                        "de razão de chances ao lado da perda das respostas."),
    "preference.loss_type": ("Tipo de perda", "dpo: sigmoid (padrão), ipo, hinge ou robust; kto: kto ou apo_zero_unpaired; vazio: a "
                             "perda padrão do objetivo (orpo tem só a sua)."),
    "preference.reference": ("Modelo de referência", "dpo/kto: auto (LoRA: o modelo base com o adaptador desligado, sem cópia extra; "
                             "completo: uma cópia congelada) ou precomputed (as pontuações de referência calculadas uma vez antes do "
                             "treino, sem modelo de referência na memória)."),
    "preference.max_prompt_length": ("Tamanho máximo do prompt", "Mantém no máximo tantos tokens de cada prompt (o final); a resposta "
                                     "fica com o resto de training.max_length (vazio: sem limite)."),
    "preference.desirable_weight": ("Peso das respostas boas", "kto: peso das linhas marcadas como boas (aumente quando forem menos que "
                                    "as ruins)."),
    "preference.undesirable_weight": ("Peso das respostas ruins", "kto: peso das linhas marcadas como ruins."),
    "grpo.num_generations": ("Gerações por prompt", "Respostas amostradas por prompt e comparadas entre si; training.batch_size x "
                             "gradient_accumulation precisa ser múltiplo disto."),
    "grpo.max_completion_length": ("Tamanho máximo da resposta", "A resposta amostrada mais longa, em tokens."),
    "grpo.temperature": ("Temperatura", "Temperatura de amostragem das respostas (maior: mais variadas)."),
    "grpo.beta": ("Beta (KL)", "Peso da penalidade KL que mantém o modelo perto do base (0: nenhuma, e nenhum modelo de referência é "
                  "necessário)."),
    "grpo.rewards": ("Recompensas", "Os termos de recompensa, cada um com um peso; a recompensa de uma resposta é a soma ponderada "
                     "deles."),
    # [models-tab fields pt]
    # [train-tab fields pt]
    # [guide fields pt]
    # [rewards-ui fields pt]
    # [a11y fields pt]
    # [spec-sections fields pt]
}

FIELDS_PT: dict[str, str] = {}
for _path, (_label, _info) in _PT_FIELDS.items():
    FIELDS_PT[f"field.{_path}"] = _label
    FIELDS_PT[f"field.{_path}.info"] = _info
