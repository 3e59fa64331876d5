DROP TABLE api_proxy_keys;
DROP TABLE api_proxies;
DROP TABLE projects;
