-- A question that is a section's title ("Behind a Proxy", "Lifespan") is
-- asking for that section. Search looks such chunks up by the key of their
-- own headings: the last of the breadcrumb (the section the chunk starts
-- in) and the other headings inside it, lower-cased with every run of
-- characters other than letters and digits made one space, so that
-- "`HTMLResponse`" and "htmlresponse" meet. The GIN index answers the
-- lookup without reading the chunks that merely mention the words.
CREATE FUNCTION kollektiv_heading_key(heading text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN btrim(regexp_replace(lower(heading), '[^[:alnum:]]+', ' ', 'g'));

CREATE FUNCTION kollektiv_heading_keys(headers text[], headings text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY(SELECT kollektiv_heading_key(h)
                 FROM unnest(headers[cardinality(headers):cardinality(headers)] || headings) AS h);

CREATE INDEX chunks_heading_keys_idx ON chunks USING gin (kollektiv_heading_keys(headers, headings));
