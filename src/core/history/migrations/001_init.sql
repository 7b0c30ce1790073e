-- mlloop evaluation history, schema 1 (docs/contracts.md, "Evaluation history").
-- One row per evaluation; pushing the same evaluation again matches evaluations_identity and adds nothing.
CREATE TABLE evaluations (
  id            bigserial PRIMARY KEY,
  model         text NOT NULL,
  model_version text NOT NULL,
  dataset       text NOT NULL,
  config_hash   text NOT NULL,
  metrics_hash  text NOT NULL,
  source_commit text,
  run_id        text,
  run_url       text,
  job           text,
  created_at    timestamptz NOT NULL,
  pushed_at     timestamptz NOT NULL DEFAULT now(),
  metrics       jsonb NOT NULL,
  run           jsonb,
  samples       integer NOT NULL DEFAULT 0,
  CONSTRAINT evaluations_identity UNIQUE (model_version, dataset, config_hash, metrics_hash)
);
CREATE INDEX evaluations_model_version ON evaluations (model_version, id);
CREATE INDEX evaluations_dataset ON evaluations (dataset, id);

-- Every numeric value of the metrics JSON by its dotted path (overall.f1, per_field.name.recall, latency_ms.p95, bleu).
CREATE TABLE metric_values (
  evaluation_id bigint NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
  path          text NOT NULL,
  value         double precision NOT NULL,
  PRIMARY KEY (evaluation_id, path)
);
CREATE INDEX metric_values_path ON metric_values (path, evaluation_id);

-- Per-image outcomes of mlloop/samples@1, loaded with COPY.
CREATE TABLE sample_scores (
  evaluation_id bigint NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
  image_id      text NOT NULL,
  tp            integer NOT NULL,
  fp            integer NOT NULL,
  fn            integer NOT NULL,
  per_field     jsonb,
  fields        jsonb,
  PRIMARY KEY (evaluation_id, image_id)
);
