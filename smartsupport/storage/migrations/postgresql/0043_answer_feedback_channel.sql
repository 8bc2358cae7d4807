-- Thumbs on the assistant's answers from other channels than the widget (issues 13 and 15,
-- docs/channels.md "Thumbs on answers"): the channel a rating came through. 'web' for the
-- widget's thumbs, 'email' for the links under an answer mail, 'whatsapp' for the reply
-- buttons, 'inbox' for an agent's flag. Rows written before this migration keep NULL: they
-- were all the widget's or an agent's, which `source` tells apart.
ALTER TABLE answer_feedback ADD COLUMN channel TEXT;
