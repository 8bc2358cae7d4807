-- Customer memory summaries written by the language model (issue 16, item 1;
-- inbox/memory_summaries.py). A memory starts extractive (0024: the ids of the messages it
-- is made of); when the answer chain has LLM steps, the worker asks them for a short summary
-- in the conversation's language, checks it (grounded in the transcript, bounded) and keeps
-- it here, or keeps the extractive one and says why.
--
-- summary      the model's summary (restored placeholders included), sealed when field
--              encryption is on like the messages it is written from; NULL: extractive
-- method       'extractive', or the step that wrote the summary ('llm:primary')
-- method_note  why the summary is extractive although a model was asked (a timeout, a
--              number the transcript does not state); sealed (it may quote the model)
-- llm_attempts model asks that failed for a passing reason (errors, timeouts); after three
--              the extractive summary stays
-- llm_done     the model has had its say: a summary kept, one rejected (not asked again),
--              or three failed asks
-- llm_usage    the tokens and cost of the asks (llm/chain.py Usage)
--
-- They go with their memory, which goes with its conversation and customer (0024).
ALTER TABLE customer_memories ADD COLUMN summary TEXT;
ALTER TABLE customer_memories ADD COLUMN method TEXT NOT NULL DEFAULT 'extractive';
ALTER TABLE customer_memories ADD COLUMN method_note TEXT;
ALTER TABLE customer_memories ADD COLUMN llm_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customer_memories ADD COLUMN llm_done BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customer_memories ADD COLUMN llm_usage jsonb;
ALTER TABLE customer_memories ADD COLUMN summarised_at timestamptz;

-- The worker's look-up of memories the model has not summarised yet.
CREATE INDEX customer_memories_llm_due ON customer_memories (llm_done, created_at);
